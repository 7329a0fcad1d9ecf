"""python -m hpcx: the same as the console script."""

from hpcx.main import main

main()
