"""Per-file analyses shared by rules: computed once, on demand, through FileContext.fact."""
