#!/bin/bash
# How the model files here were made (run from the repository root, venv active). Seeds are the
# workflow's: stage_seed(2023, "train_member", element, trainset, member).
set -euo pipefail
# Ni: the recorded distilled set (1,000 frames of the 32-atom MOMT pool), rebuilt from the manifest
#   snakemake results/Ni/sample/momt_32.h5 --cores 1 --configfile config/campaign.yaml
#   python docs/campaign/dft/rebuild_distilled.py results/Ni/sample/momt_32.h5 results/Ni/distill/recorded/distilled.h5
TS='{"train_fraction":0.8,"max_epochs":600,"lr_patience":20,"early_stop_patience":80,"min_lr":3.0e-5}'
for m in 0 1 2 3 4; do
  seed=$(python -c "from nnpdistill.config import stage_seed; print(stage_seed(2023,'train_member','Ni','distill/recorded',$m))")
  nnpdistill train results/Ni/distill/recorded/distilled.h5 --element Ni --seed "$seed" --train-settings "$TS" \
    --out results/Ni/distill/recorded/members/$m
done
nnpdistill export-nnp --members results/Ni/distill/recorded/members/{0,1,2,3,4}/model.pt --out docs/campaign/models/ni_distilled.pt
# its validation in MD against the EAM (100 ps NPT per state point + 10 ps NVE; ~80 min on one core)
seed=$(python -c "from nnpdistill.config import stage_seed; print(stage_seed(2023,'validate_nnp','Ni','distill/recorded'))")
nnpdistill validate-nnp --members results/Ni/distill/recorded/members/{0,1,2,3,4}/model.pt --element Ni \
  --out results/Ni/distill/recorded/validate --settings docs/campaign/models/validate_ni.json --seed "$seed"
# Al: the DFT campaign's ensemble (docs/campaign/dft: snakemake ... --configfile config/campaign.yaml
# config/campaign-dft-al.yaml), members of trainset labelled/translated/from_Ni
nnpdistill export-nnp --members results/Al/labelled/translated/from_Ni/members/{0,1,2,3,4}/model.pt --out docs/campaign/models/al_cp2k.pt
