"""The command line: parse options, call the runner, pick a reporter. Nothing else lives here."""

from __future__ import annotations

import functools
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from torchlint import __version__
from torchlint.config import ConfigError, Settings, build_settings, find_config
from torchlint.discovery import discover
from torchlint.registry import all_rules, rule_by_code
from torchlint.report import FORMATS
from torchlint.runner import Mode, RunResult, process_stdin, run, unsafe_fix_count

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2


def _codes(values: Sequence[str]) -> list[str]:
    """``--select TL1,TL2 --select TL3`` → [TL1, TL2, TL3]."""
    return [code.strip().upper() for value in values for code in value.split(",") if code.strip()]


def _use_color(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def lint_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options `check` and `fix` share."""
    options = [
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
        click.option("--select", multiple=True, metavar="CODES", help="Rules to enable: codes, prefixes (TL1) or ALL; replaces the configured set."),
        click.option("--extend-select", multiple=True, metavar="CODES", help="Rules to enable on top of the selection."),
        click.option("--ignore", multiple=True, metavar="CODES", help="Rules to disable."),
        click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help="Read settings from this pyproject.toml instead of the nearest one."),
        click.option("--output-format", type=click.Choice(sorted([*FORMATS, "sarif"])), default="full", show_default=True, help="How to print diagnostics."),
        click.option("--unsafe-fixes/--no-unsafe-fixes", default=None, help="Also apply fixes that change behaviour on purpose."),
        click.option("--runtime-helpers/--no-runtime-helpers", default=None, help="Fixes use torchlint.runtime helpers (default) or plain PyTorch."),
        click.option("--target-version", metavar="X.Y", help="Oldest torch the project supports; newer-API fixes are not offered."),
        click.option("--exclude", multiple=True, metavar="GLOB", help="Replace the configured exclude patterns."),
        click.option("--extend-exclude", multiple=True, metavar="GLOB", help="Exclude these patterns too."),
        click.option("--stdin-filename", metavar="NAME", help="Read the source from standard input and report it as NAME."),
        click.option("--statistics", is_flag=True, help="Print a count per rule instead of each diagnostic."),
        click.option("--exit-zero", is_flag=True, help="Exit 0 even when diagnostics remain."),
        click.option("-q", "--quiet", is_flag=True, help="Print diagnostics only, no summary."),
        click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True, help="Colour the output (NO_COLOR is honoured)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(paths: Sequence[Path], options: dict[str, Any]) -> Settings:
    config_path = options["config_path"]
    if config_path is None:
        start = paths[0] if paths and paths[0].exists() else Path.cwd()
        config_path = find_config(start) or find_config(Path.cwd())
    return build_settings(
        config_path,
        select=_codes(options["select"]) if options["select"] else None,
        extend_select=_codes(options["extend_select"]),
        ignore=_codes(options["ignore"]),
        unsafe_fixes=options["unsafe_fixes"],
        runtime_helpers=options["runtime_helpers"],
        target_version=options["target_version"],
        exclude=options["exclude"] or None,
        extend_exclude=options["extend_exclude"],
    )


def _fail(message: str) -> None:
    click.echo(f"torchlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn configuration problems and unexpected crashes into one line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as error:
            _fail(str(error))
        except KeyboardInterrupt:
            click.echo("torchlint: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as error:  # noqa: BLE001 - never show users a traceback
            if os.environ.get("TORCHLINT_DEBUG"):
                raise
            _fail(f"internal error: {type(error).__name__}: {error} (set TORCHLINT_DEBUG=1 for details)")

    return wrapper


def _execute(paths: tuple[Path, ...], options: dict[str, Any], mode: Mode) -> RunResult:
    settings = _settings(paths, options)
    mode = Mode(mode.fix, mode.write, settings.unsafe_fixes)
    stdin_name = options["stdin_filename"]
    if stdin_name is not None or paths == (Path("-"),):
        outcome = process_stdin(sys.stdin.buffer.read(), stdin_name or "-", settings, mode)
        result = RunResult()
        result.add(outcome)
        if mode.fix and outcome.fixed_source is not None and not options.get("diff"):
            sys.stdout.write(outcome.fixed_source)
            sys.stdout.flush()
            options["_stdout_taken"] = True
        return result.finish()
    found = discover(
        list(paths or (Path("."),)),
        root=settings.root,
        exclude=settings.exclude,
        extend_exclude=settings.extend_exclude,
        respect_gitignore=settings.respect_gitignore,
    )
    for directory in found.empty:
        click.echo(f"torchlint: warning: no Python files found under {directory}", err=True)
    result = run(found.files, settings, mode)
    result.errors[:0] = found.errors
    return result


def _report(result: RunResult, options: dict[str, Any], mode: Mode, diff: bool) -> None:
    color = _use_color(options["color"])
    out = sys.stderr if options.get("_stdout_taken") else sys.stdout
    diagnostics = result.diagnostics
    for error in result.errors:
        click.echo(f"torchlint: error: {error}", err=True)
    if diff:
        for text in result.diffs:
            out.write(text)
    elif options["statistics"]:
        counts = Counter(d.code for d in diagnostics)
        fixable = {d.code for d in diagnostics if d.fixable}
        names = {d.code: d.name for d in diagnostics}
        for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            marker = "[*]" if code in fixable else "   "
            out.write(f"{count:>6}  {code}  {marker} {names[code]}\n")
    else:
        fmt = options["output_format"]
        if fmt == "sarif":
            from torchlint.report.sarif import write_sarif

            write_sarif(diagnostics, out, color)
        else:
            FORMATS[fmt](diagnostics, out, color)
    out.flush()
    if options["quiet"]:
        return
    summary: list[str] = []
    if mode.fix and result.fixed:
        summary.append(f"Fixed {result.fixed} error{'s' if result.fixed != 1 else ''}.")
    if diff:
        changed = len(result.diffs)
        summary.append(
            f"Would fix {changed} file{'s' if changed != 1 else ''}." if changed else "No fixes available."
        )
    if diagnostics:
        n = len(diagnostics)
        summary.append(f"Found {n} error{'s' if n != 1 else ''}{' remaining' if mode.fix else ''}.")
        fixable = sum(1 for d in diagnostics if d.fix and d.fix.applicability.value == "safe")
        if fixable and not mode.fix:
            summary.append(f"[*] {fixable} fixable with `torchlint fix`.")
        hidden = unsafe_fix_count(diagnostics)
        if hidden and not (mode.fix and mode.unsafe):
            summary.append(f"({hidden} more fixable with `--unsafe-fixes`.)")
    elif not result.errors and not diff:
        summary.append("All checks passed!")
    for line in summary:
        click.echo(line, err=True)


def _exit_code(result: RunResult, options: dict[str, Any], diff: bool) -> int:
    if result.errors:
        return EXIT_ERROR
    if options["exit_zero"]:
        return EXIT_CLEAN
    if diff and result.diffs:
        return EXIT_FOUND
    return EXIT_FOUND if result.diagnostics else EXIT_CLEAN


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="torchlint")
def main() -> None:
    """torchlint: find and fix PyTorch anti-patterns.

    \b
    torchlint check src/          report problems
    torchlint fix src/            apply safe fixes (--unsafe-fixes for more)
    torchlint fix --diff src/     show what fix would change
    torchlint rule TL101          explain a rule
    torchlint rules               list every rule

    Exit codes: 0 nothing found, 1 diagnostics remain, 2 usage, config or internal error.
    """


@main.command()
@lint_options
@click.option("--fix", "apply_fix", is_flag=True, help="Apply fixes (same as `torchlint fix`).")
@click.option("--diff", is_flag=True, help="With --fix: print a diff instead of writing files.")
@guarded
def check(paths: tuple[Path, ...], apply_fix: bool, diff: bool, **options: Any) -> None:
    """Report problems in PATHS (files or directories; default: the current directory)."""
    mode = Mode(fix=apply_fix or diff, write=not diff)
    result = _execute(paths, options, mode)
    _report(result, options, mode, diff)
    sys.exit(_exit_code(result, options, diff))


@main.command()
@lint_options
@click.option("--diff", is_flag=True, help="Print a unified diff of the fixes and write nothing (exit 1 if there are changes).")
@guarded
def fix(paths: tuple[Path, ...], diff: bool, **options: Any) -> None:
    """Apply fixes to PATHS: safe ones, and unsafe ones with --unsafe-fixes."""
    mode = Mode(fix=True, write=not diff)
    result = _execute(paths, options, mode)
    _report(result, options, mode, diff)
    sys.exit(_exit_code(result, options, diff))


@main.command()
@click.argument("code")
def rule(code: str) -> None:
    """Explain the rule CODE (e.g. TL101 or dataloader-no-workers)."""
    found = rule_by_code(code)
    if found is None:
        _fail(f"unknown rule `{code}` (see `torchlint rules`)")
        return
    fix = found.fix_applicability.value if found.fix_applicability else "none"
    state = "on by default" if found.default else "off by default (opt-in)"
    click.echo(f"# {found.code} {found.name}\n\n{found.summary}.\n\n_{state}; fix: {fix}_\n")
    click.echo(found.documentation())


@main.command()
@click.option("--output-format", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
def rules(output_format: str) -> None:
    """List every rule: code, name, default state and fix."""
    import json

    from torchlint.report.rules_table import markdown_table

    rows = all_rules()
    if output_format == "markdown":
        click.echo(markdown_table(rows), nl=False)
        return
    if output_format == "json":
        data = [
            {
                "code": r.code,
                "name": r.name,
                "summary": r.summary,
                "default": r.default,
                "fix": r.fix_applicability.value if r.fix_applicability else None,
            }
            for r in rows
        ]
        click.echo(json.dumps(data, indent=2))
        return
    for r in rows:
        state = "on " if r.default else "opt"
        fix = r.fix_applicability.value if r.fix_applicability else "-"
        click.echo(f"{r.code}  {r.name:<36} {state}  {fix:<12} {r.summary}")
