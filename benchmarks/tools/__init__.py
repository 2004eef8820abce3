"""The tools under test, each run through its own command line as subprocesses."""
