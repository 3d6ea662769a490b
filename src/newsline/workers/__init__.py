"""Workers: the in-process scheduler and the distributed runner."""
