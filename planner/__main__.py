"""``python -m planner ...``: the same CLI as the ``planner`` console script (planner.cli.main)."""
from planner.cli import main

if __name__ == "__main__":
    main()
