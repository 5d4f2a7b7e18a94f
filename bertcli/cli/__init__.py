"""The command line: parse options, call the core, render what it returns."""
