"""Rebuild the recorded campaign's distilled Ni set from the (bit-for-bit re-sampled) 32-atom pool.

The 1,000 indices of docs/campaign/distill/manifest_uncertainty.json select the frames; the pool's
checksum is checked against the manifest's, so the frames are exactly the recorded distilled set.
Usage (after `snakemake results/Ni/sample/momt_32.h5 --cores 1 --configfile config/campaign.yaml`):
    python docs/campaign/dft/rebuild_distilled.py results/Ni/sample/momt_32.h5 \
        results/Ni/distill/recorded/distilled.h5
"""

import json
import sys
from pathlib import Path

from nnpdistill.distill import write_subset
from nnpdistill.io_utils import sha256_file

pool, out = sys.argv[1], sys.argv[2]
manifest = json.loads((Path(__file__).parents[1] / "distill" / "manifest_uncertainty.json").read_text())
digest = sha256_file(pool)
if digest != manifest["source_pool_sha256"]:
    sys.exit(f"{pool}: sha256 {digest[:12]} is not the recorded pool's {manifest['source_pool_sha256'][:12]}")
write_subset(
    pool,
    manifest["indices"],
    out,
    extra_attrs={
        "method": "distilled (recorded manifest)",
        "manifest_distilled_sha256": manifest["distilled_sha256"],
    },
)
print(f"{len(manifest['indices'])} frames -> {out}")
