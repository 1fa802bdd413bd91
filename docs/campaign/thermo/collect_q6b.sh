#!/usr/bin/env bash
# Copy the small outputs of the q6 runs on the phases' own O grid (issue 15, eighth run:
# config/campaign-thermo-q6b.yaml at 108 atoms, config/campaign-thermo-q6b-32.yaml at 32) into
# docs/campaign/thermo/q6b. Run from the repository root.
exec "$(dirname "$0")/collect_q6.sh" q6b
