"""Workers: the in-process scheduler and progress reporting for long runs."""
