"""`python -m bertcli` (and so `torchrun -m bertcli`)."""

from bertcli.cli.app import main

if __name__ == "__main__":
    main()
