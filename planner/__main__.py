"""``python -m planner ...`` runs the same CLI as the ``planner`` console script (useful without
the package installed, e.g. ``PYTHONPATH=$PWD python -m planner estimate job.yaml``)."""
from planner.cli import main

if __name__ == "__main__":
    main()
