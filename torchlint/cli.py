"""The command line: parse options, call the runner, pick a reporter. Nothing else lives here."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click

from torchlint import __version__, collector, not_checked, opt_in, timing
from torchlint.cache import Cache, cache_directory
from torchlint.cache import clean as clean_cache
from torchlint.config import (
    ConfigError,
    Overrides,
    Resolver,
    Settings,
    build_settings,
    did_you_mean,
    find_config,
)
from torchlint.discovery import Discovery, discover
from torchlint.registry import all_rules, rule_by_code
from torchlint.report import FORMATS, github, sarif
from torchlint.runner import FileOutcome, Mode, RunResult, process_stdin, run, unsafe_fix_count
from torchlint.sourcefile import SourceError, decode_source

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2


def _codes(values: Sequence[str]) -> list[str]:
    """``--select TL1,TL2 --select TL3`` → [TL1, TL2, TL3].

    An empty value (``--select ""``, as an unset shell variable gives) stays an empty
    selector, which is an error: it must not quietly select nothing.
    """
    codes = []
    for value in values:
        parts = [part.strip().upper() for part in value.split(",")]
        codes.extend([part for part in parts if part] or [""])
    return codes


class Choice(click.Choice):
    """click's Choice, with a "did you mean" for a near miss (`--output-format jsno`)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as error:
            hint = did_you_mean(str(value), [str(choice) for choice in self.choices])
            self.fail(f"{error.message}{hint}", param, ctx)


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
        click.option(
            "--select",
            multiple=True,
            metavar="CODES",
            help="Rules to enable: codes, prefixes (TL1) or ALL; replaces the configured set.",
        ),
        click.option(
            "--extend-select",
            multiple=True,
            metavar="CODES",
            help="Rules to enable on top of the selection.",
        ),
        click.option("--ignore", multiple=True, metavar="CODES", help="Rules to disable."),
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Read settings from this pyproject.toml instead of the nearest one.",
        ),
        click.option(
            "--output-format",
            type=Choice(sorted(FORMATS)),
            default="full",
            show_default=True,
            help="How to print diagnostics.",
        ),
        click.option(
            "-o",
            "--output-file",
            type=click.Path(path_type=Path, dir_okay=False),
            metavar="PATH",
            help="Write the diagnostics (any format) to PATH instead of stdout; the summary still goes to stderr.",
        ),
        click.option(
            "--unsafe-fixes/--no-unsafe-fixes",
            default=None,
            help="Also apply fixes that change behaviour on purpose.",
        ),
        click.option(
            "--runtime-helpers/--no-runtime-helpers",
            default=None,
            help="Fixes use torchlint.runtime helpers (default) or plain PyTorch.",
        ),
        click.option(
            "--target-version",
            metavar="X.Y",
            help="Oldest torch the project supports; newer-API fixes are not offered.",
        ),
        click.option(
            "--max-target-version",
            metavar="X.Y",
            help="Newest torch the project supports; what warns only after it is not reported.",
        ),
        click.option(
            "--exclude",
            multiple=True,
            metavar="GLOB",
            help="Replace the configured exclude patterns.",
        ),
        click.option(
            "--extend-exclude", multiple=True, metavar="GLOB", help="Exclude these patterns too."
        ),
        click.option(
            "--stdin-filename",
            metavar="NAME",
            help="Read the source from standard input and report it as NAME (for editors; `fix` prints the fixed source to stdout).",
        ),
        click.option(
            "--force-exclude",
            is_flag=True,
            help="Apply the exclude patterns to files named on the command line (and to --stdin-filename) too; for pre-commit.",
        ),
        click.option(
            "--statistics", is_flag=True, help="Print a count per rule instead of each diagnostic."
        ),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            default=None,
            metavar="N",
            help="Lint with N processes (default: all CPUs); the output is the same for any N.",
        ),
        click.option(
            "--no-cache",
            is_flag=True,
            help="Neither read nor write the results cache (`cache-dir`, default .torchlint_cache).",
        ),
        click.option("--exit-zero", is_flag=True, help="Exit 0 even when diagnostics remain."),
        click.option("-q", "--quiet", is_flag=True, help="Print diagnostics only, no summary."),
        click.option(
            "--color",
            type=Choice(["auto", "always", "never"]),
            default="auto",
            show_default=True,
            help="Colour the output (NO_COLOR is honoured).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _resolver(options: dict[str, Any]) -> Resolver:
    """Each file's settings: its nearest config (or ``--config``), with the options on top."""
    if "_resolver" not in options:
        overrides = Overrides(
            select=tuple(_codes(options["select"])) if options["select"] else None,
            extend_select=tuple(_codes(options["extend_select"])),
            ignore=tuple(_codes(options["ignore"])),
            unsafe_fixes=options["unsafe_fixes"],
            runtime_helpers=options["runtime_helpers"],
            target_version=options["target_version"],
            max_target_version=options["max_target_version"],
            exclude=tuple(options["exclude"]) or None,
            extend_exclude=tuple(options["extend_exclude"]),
        )
        options["_resolver"] = Resolver(overrides, config=options["config_path"])
    return options["_resolver"]


def _settings(paths: Sequence[Path], options: dict[str, Any]) -> Settings:
    """The settings of the run as a whole (the first path's, an editor buffer's, else the
    working directory's): where the cache lives, what the summary counts as fixable.
    Each file is linted with its own (``_resolver``)."""
    resolver = _resolver(options)
    if options.get("stdin_filename"):  # an editor's buffer: its file's project decides
        return resolver.for_file(Path(options["stdin_filename"]))
    if paths and paths[0].exists():
        return resolver.for_path(paths[0])
    return resolver.for_directory(Path.cwd())


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
        except BrokenPipeError:
            # The reader went away (`torchlint check | head`): stop quietly, as Unix tools do.
            _silence_stdout()
            sys.exit(EXIT_FOUND)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as error:
            if os.environ.get("TORCHLINT_DEBUG"):
                raise
            _fail(
                f"internal error: {type(error).__name__}: {error} (set TORCHLINT_DEBUG=1 for details)"
            )

    return wrapper


def _stdin(
    paths: tuple[Path, ...], options: dict[str, Any], settings: Settings, mode: Mode, diff: bool
) -> RunResult:
    """Lint (or fix) standard input: the editor integration.

    ``fix`` (without ``--diff``) prints the whole fixed source to stdout, byte for byte in
    the input's encoding, and everything else to stderr; input it cannot fix (undecodable,
    excluded) is echoed back unchanged, so an editor never loses its buffer.
    """
    if paths not in ((), (Path("-"),)):
        raise click.UsageError("--stdin-filename reads standard input: pass no PATHS (or `-`)")
    stdin_name = options["stdin_filename"]
    data = sys.stdin.buffer.read()
    name = stdin_name or "-"
    if stdin_name and options["force_exclude"] and settings.excluded(Path(stdin_name)):
        outcome = FileOutcome(name)
    else:
        outcome = process_stdin(data, name, settings, mode)
    if mode.fix and not diff:
        output = data
        if outcome.fixed_source is not None and not outcome.errors:
            try:
                output = decode_source(data, Path(name)).encode(outcome.fixed_source)
            except (SourceError, UnicodeEncodeError):
                output = data
        sys.stdout.flush()
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
        options["_stdout_taken"] = True
    result = RunResult(unsafe_fixes=settings.unsafe_fixes)
    result.add(outcome)
    return result.finish()


STATISTICS_FORMATS = ("full", "concise", "json")


def _execute(
    paths: tuple[Path, ...], options: dict[str, Any], mode: Mode, diff: bool = False
) -> RunResult:
    if options["statistics"] and options["output_format"] not in STATISTICS_FORMATS:
        raise click.UsageError(
            f"--statistics prints a table ({', '.join(STATISTICS_FORMATS)} output), "
            f"not --output-format {options['output_format']}"
        )
    settings = _settings(paths, options)
    mode = Mode(mode.fix, mode.write, settings.unsafe_fixes)
    if options["stdin_filename"] is not None or paths == (Path("-"),):
        return _stdin(paths, options, settings, mode, diff)
    found = _discover(paths, options, settings)
    mode = Mode(mode.fix, mode.write, None)  # each file's own `unsafe-fixes`
    cache = None if options["no_cache"] else Cache.for_settings(settings)
    roots = [path for path in paths or (Path("."),) if path.is_dir()]
    collector.tune_for_batch()
    result = run(
        found.files,
        settings,
        mode,
        jobs=options["jobs"],
        cache=cache,
        roots=roots,
        resolver=_resolver(options),
    )
    result.errors[:0] = found.errors
    result.unsafe_fixes = settings.unsafe_fixes
    return result


def _discover(paths: tuple[Path, ...], options: dict[str, Any], settings: Settings) -> Discovery:
    """The files a run lints (what `--show-files` lists)."""
    resolver = _resolver(options)
    found = discover(list(paths or (Path("."),)), root=settings.root, rules_for=resolver.walk_rules)
    for directory in found.empty:
        click.echo(f"torchlint: warning: no Python files found under {directory}", err=True)
    if options["force_exclude"]:
        found.files = [f for f in found.files if not resolver.for_file(f).excluded(f)]
    return found


@contextlib.contextmanager
def _output(options: dict[str, Any]) -> Iterator[TextIO]:
    """Where diagnostics go: ``--output-file`` (never coloured), else stdout (stderr when
    stdout carries the fixed source of standard input)."""
    path = options.get("output_file")
    if path is None:
        yield sys.stderr if options.get("_stdout_taken") else sys.stdout
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = path.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise ConfigError(f"cannot write --output-file {path}: {error.strerror}") from None
    options["color"] = "never"
    with stream:
        yield stream


def _report(result: RunResult, options: dict[str, Any], mode: Mode, diff: bool) -> None:
    with _output(options) as out:
        _write_diagnostics(result, options, diff, out)
    _summary(result, options, mode, diff)
    if timing.TIMER is not None:  # after the report, on stderr: JSON output stays JSON
        click.echo(timing.table(result.timings, timing.rows_shown()), err=True, nl=False)


def _write_diagnostics(result: RunResult, options: dict[str, Any], diff: bool, out: TextIO) -> None:
    color = _use_color(options["color"])
    diagnostics = result.diagnostics
    for error in result.errors:
        click.echo(f"torchlint: error: {error}", err=True)
    for warning in result.warnings:
        click.echo(f"torchlint: warning: {warning}", err=True)
    if diff:
        for text in result.diffs:
            out.write(text)
    elif options["statistics"]:
        counts = Counter(d.code for d in diagnostics)
        fixable = {d.code for d in diagnostics if d.fix_applies(result.unsafe_fixes)}
        names = {d.code: d.name for d in diagnostics}
        rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if options["output_format"] == "json":
            table = [
                {"code": code, "name": names[code], "count": count, "fixable": code in fixable}
                for code, count in rows
            ]
            out.write(json.dumps(table, indent=2) + "\n")
        else:
            for code, count in rows:
                marker = "[*]" if code in fixable else "   "
                out.write(f"{count:>6}  {code}  {marker} {names[code]}\n")
    elif options["output_format"] == "sarif" and result.not_checked:
        sarif.write_sarif(diagnostics, out, color, result.unsafe_fixes, result.not_checked)
    else:
        FORMATS[options["output_format"]](diagnostics, out, color, result.unsafe_fixes)
        if options["output_format"] == "github":
            github.write_not_checked(result.not_checked, out)
    out.flush()


def _summary(result: RunResult, options: dict[str, Any], mode: Mode, diff: bool) -> None:
    """The lines on stderr. Every diagnostic counts as an error, as in ruff (the severity
    every format reports); "fixable" counts only fixes `torchlint fix` would apply."""
    if options["quiet"]:
        return
    diagnostics = result.diagnostics
    summary: list[str] = []
    errors = f"error{'s' if result.fixed != 1 else ''}"
    if diff:
        changed = len(result.diffs)
        summary.append(
            f"Would fix {result.fixed} {errors} in {changed} file{'s' if changed != 1 else ''}."
            if changed
            else "No fixes available."
        )
    elif mode.fix and result.fixed:
        summary.append(f"Fixed {result.fixed} {errors}.")
    if diagnostics:
        n = len(diagnostics)
        found = f"{n} error{'s' if n != 1 else ''}"
        if diff:  # nothing was written: the rest is what fixing would leave
            summary.append(f"{found[0].upper()}{found[1:]} would remain after fixing.")
        else:
            summary.append(f"Found {found}{' remaining' if mode.fix else ''}.")
        fixable = sum(1 for d in diagnostics if d.fix_applies(result.unsafe_fixes))
        if fixable and not mode.fix:
            summary.append(f"[*] {fixable} fixable with `torchlint fix`.")
        hidden = unsafe_fix_count(diagnostics)
        if hidden and not result.unsafe_fixes:
            # "more" only beside something fixable or fixed: alone, there is nothing to add to
            more = "more " if (fixable and not mode.fix) or (mode.fix and result.fixed) else ""
            command = "`--unsafe-fixes`" if more or mode.fix else "`torchlint fix --unsafe-fixes`"
            summary.append(f"({hidden} {more}fixable with {command}.)")
    elif not result.errors and not diff:
        summary.append("All checks passed!")
    skipped = not_checked_note(result)
    if skipped and summary and summary[-1] == "All checks passed!":
        summary[-1] += f" ({skipped})"
    elif skipped:  # the last line says so: a pass must not read as a full one
        result.notes.append(f"({skipped}.)")
    before = "" if mode.fix or options.get("stdin_filename") else _opt_in_note(options)
    for line in [before, *summary, *result.notes]:
        if line:
            click.echo(line, err=True)


def not_checked_note(result: RunResult) -> str:
    """``1 file not checked: larger than max-file-size``, or '' when every file was."""
    return not_checked.note(result.not_checked)


def _finish(result: RunResult, options: dict[str, Any], mode: Mode, diff: bool) -> NoReturn:
    """Report, then exit with the verdict; it stands even if the reader stops reading
    (``torchlint check | head``)."""
    code = _exit_code(result, options, diff)
    try:
        _report(result, options, mode, diff)
    except BrokenPipeError:
        _silence_stdout()
    sys.exit(code)


def _silence_stdout() -> None:
    """The pipe is gone: send what is still buffered to /dev/null, so exiting is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _exit_code(result: RunResult, options: dict[str, Any], diff: bool) -> int:
    if result.errors:
        return EXIT_ERROR
    if options["exit_zero"]:
        return EXIT_CLEAN
    if diff and result.diffs:
        return EXIT_FOUND
    if options.get("exit_non_zero_on_fix") and result.fixed:
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


EXIT_NON_ZERO_ON_FIX = click.option(
    "--exit-non-zero-on-fix",
    is_flag=True,
    help="Exit 1 when files were changed, even if no diagnostics remain (the pre-commit hook uses it).",
)


@main.command(short_help="Report problems in files and directories.")
@lint_options
@click.option("--fix", "apply_fix", is_flag=True, help="Apply fixes (same as `torchlint fix`).")
@click.option("--diff", is_flag=True, help="With --fix: print a diff instead of writing files.")
@EXIT_NON_ZERO_ON_FIX
@click.option(
    "--show-settings",
    is_flag=True,
    help="Print the resolved settings (which file, selected rules, excludes, target-version) and exit.",
)
@click.option("--show-files", is_flag=True, help="Print the files that would be linted, and exit.")
@click.option(
    "--add-noqa",
    is_flag=True,
    help="Add `# noqa: CODE` to every line with a diagnostic (to adopt torchlint at zero, then ratchet down).",
)
@guarded
def check(
    paths: tuple[Path, ...],
    apply_fix: bool,
    diff: bool,
    add_noqa: bool,
    show_settings: bool,
    show_files: bool,
    **options: Any,
) -> None:
    """Report problems in PATHS (files or directories; default: the current directory)."""
    if show_settings or show_files:
        _show(paths, options, show_settings, show_files)
    if add_noqa:
        _add_noqa(paths, apply_fix or diff, options)
    mode = Mode(fix=apply_fix or diff, write=not diff)
    result = _execute(paths, options, mode, diff)
    _finish(result, options, mode, diff)


def _opt_in_note(options: dict[str, Any]) -> str:
    """Where no configuration chose the rules: which headline checks did not run."""
    chose = bool(
        options["config_path"] or options["select"] or options["extend_select"] or options["ignore"]
    )
    return opt_in.note(_resolver(options).config_files(), chose, options["output_format"])


def _show(
    paths: tuple[Path, ...], options: dict[str, Any], show_settings: bool, show_files: bool
) -> NoReturn:
    """``--show-settings`` / ``--show-files``: say what a run would do, lint nothing."""
    from torchlint.report.settings import describe_settings

    settings = _settings(paths, options)
    errors: list[str] = []
    with _output(options) as out:
        if show_settings:
            out.write(describe_settings(settings))
        if show_files:
            found = _discover(paths, options, settings)
            errors = found.errors
            out.writelines(f"{path}\n" for path in sorted(found.files))
    for error in errors:
        click.echo(f"torchlint: error: {error}", err=True)
    sys.exit(EXIT_ERROR if errors else EXIT_CLEAN)


def _add_noqa(paths: tuple[Path, ...], fixing: bool, options: dict[str, Any]) -> None:
    """``check --add-noqa``: suppress what is found; exit 0, or 1 if some could not be."""
    from torchlint.add_noqa import add_noqa_to_files

    if fixing:
        raise click.UsageError("--add-noqa cannot be combined with --fix or --diff")
    if options["stdin_filename"] is not None or paths == (Path("-"),):
        raise click.UsageError("--add-noqa edits files: it cannot read standard input")
    result = _execute(paths, options, Mode())
    for error in result.errors:
        click.echo(f"torchlint: error: {error}", err=True)
    for warning in result.warnings:
        click.echo(f"torchlint: warning: {warning}", err=True)
    added = add_noqa_to_files(result.diagnostics)
    for error in added.errors:
        click.echo(f"torchlint: error: {error}", err=True)
    plural = "s" if added.added != 1 else ""
    files = f" in {added.files} file{'s' if added.files != 1 else ''}" if added.added else ""
    click.echo(f"Added {added.added} noqa directive{plural}{files}.", err=True)
    if added.skipped:
        click.echo(
            f"Could not add {added.skipped} (on a line that ends inside a string or with a "
            "backslash, or TL000/TL001, which `noqa` does not silence); "
            "`torchlint check` shows them.",
            err=True,
        )
    if result.errors or added.errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FOUND if added.skipped and not options["exit_zero"] else EXIT_CLEAN)


@main.command(short_help="Apply fixes (safe ones; --unsafe-fixes for more).")
@lint_options
@click.option(
    "--diff",
    is_flag=True,
    help="Print a unified diff of the fixes and write nothing (exit 1 if there are changes).",
)
@EXIT_NON_ZERO_ON_FIX
@guarded
def fix(paths: tuple[Path, ...], diff: bool, **options: Any) -> None:
    """Apply fixes to PATHS: safe ones, and unsafe ones with --unsafe-fixes.

    Exits 0 when nothing remains to report, 1 when diagnostics remain (or, with
    --exit-non-zero-on-fix, when a file was changed), 2 on errors.
    """
    mode = Mode(fix=True, write=not diff)
    result = _execute(paths, options, mode, diff)
    _finish(result, options, mode, diff)


@main.command(short_help="Remove the results cache.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The pyproject.toml whose `cache-dir` to clean (default: the nearest one).",
)
@guarded
def clean(config_path: Path | None) -> None:
    """Remove the results cache (`cache-dir`, default .torchlint_cache at the project root)."""
    if config_path is None:
        config_path = find_config(Path.cwd())
    directory = cache_directory(build_settings(config_path))
    try:
        removed = clean_cache(directory)
    except ValueError as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"cannot remove {directory}: {error.strerror}")
    click.echo(f"Removed {directory}" if removed else f"No cache at {directory}", err=True)


@main.command(short_help="Explain one rule.")
@click.argument("code")
def rule(code: str) -> None:
    """Explain the rule CODE: its code (TL101) or its name (dataloader-no-workers)."""
    from torchlint.report.rule_docs import rule_text

    found = rule_by_code(code)
    if found is None:
        known = [r.code for r in all_rules()] + [r.name for r in all_rules()]
        hint = did_you_mean(code.upper() if code[:2].lower() == "tl" else code, known)
        _fail(f"unknown rule `{code}`{hint} (see `torchlint rules`)")
        return
    click.echo(rule_text(found), nl=False)


@main.command(short_help="List every rule.")
@click.option(
    "--output-format",
    type=Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
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


@main.command(short_help="Run the language server (LSP over stdio; for editors).")
def server() -> None:
    """Run the language server over standard input and output (needs torchlint[lsp])."""
    from torchlint.server import LSP_EXTRA_HINT, pygls_available

    if not pygls_available():
        _fail(LSP_EXTRA_HINT)
    from torchlint.server.app import main as serve

    serve()
