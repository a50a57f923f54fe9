#!/bin/bash
# Generate, format, lint, execute and check lessons 01/02:  bash build_0102.sh 01 [02]
set -e
cd /work/main
for n in "$@"; do
  nb=$(ls /work/team/lessons/make_${n}_*.py)
  .venv/bin/python "$nb"
  path=notebooks/$(basename "$nb" .py | sed 's/^make_//').ipynb
  .venv/bin/ruff format -q "$path"
  .venv/bin/ruff check "$path"
  start=$(date +%s)
  make -s execute NB="$path"
  echo "$path executed in $(( $(date +%s) - start )) s"
done
