# Shared setup: config validation, per-element settings, path helpers, targets.
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from nnpdistill.config import deep_merge, element_config_path, load_yaml, overrides_for, stage_seed
from nnpdistill.errors import ConfigError
from nnpdistill.selection import DESCRIPTOR_STRATEGIES, MODEL_STRATEGIES, REGISTRY, STRATEGIES

validate(config, "../schemas/config.schema.yaml", set_default=True)

BASE_DIR = Path(workflow.basedir)
RESULTS = config["results_dir"]


def _schema_error(exc):
    """A schema validation error in one line: the key (dotted path) and what is wrong (an enum's message
    lists the allowed values), not the schema dump."""
    import re

    text = str(exc)
    msg = next((ln for ln in text.splitlines() if ln.startswith("ValidationError:")), text.splitlines()[0])
    msg = msg.replace("ValidationError: ", "")
    where = re.search(r"On instance((?:\[[^\]]+\])+)", text)
    key = ".".join(re.findall(r"\['?([^'\]]+)'?\]", where.group(1))) if where else ""
    return f"{key}: {msg}" if key else msg


def _where(path):
    """An element's config file, and the overrides merged over it when there are any."""
    return f"{path} with element_overrides" if config["element_overrides"] else str(path)


def _load_elements():
    elements = {}
    for symbol in config["elements"]:
        path = element_config_path(BASE_DIR / config["element_config_dir"], symbol)
        try:
            data = deep_merge(load_yaml(path), overrides_for(config["element_overrides"], symbol))
        except ConfigError as exc:
            raise WorkflowError(f"element {symbol}: {exc}") from exc
        try:
            validate(data, "../schemas/element.schema.yaml", set_default=True)
        except WorkflowError as exc:
            # the element, its file and the offending key in a few lines, not the whole schema
            raise WorkflowError(f"element {symbol} ({_where(path)}): {_schema_error(exc)}") from None
        if data["symbol"] != symbol:
            raise WorkflowError(f"{path} declares symbol {data['symbol']!r} but is listed as {symbol!r}")
        elements[symbol] = data
    return elements


ELEMENTS = _load_elements()
SOURCE_ELEMENT = config["elements"][0]


def _check_references():
    """Every element's reference method must be usable here (module imports, CP2K binary and data
    files, the element's pseudopotential and basis set): a bad one stops the run before any job."""
    from nnpdistill.reference import make_reference

    for symbol, cfg in ELEMENTS.items():
        if cfg["reference"]["kind"] == "eam" and not cfg["label"]["stores"]:
            continue  # the EAM engine itself is checked by the jobs that load it
        try:
            make_reference(symbol, cfg["reference"], potential=cfg["potential"]).check()
        except ConfigError as exc:
            raise WorkflowError(f"element {symbol} (config/elements/{symbol.lower()}.yaml): {exc}") from None
        label = cfg["label"]
        for key in ("train_store", "test_store"):
            if label[key] is not None and label[key] not in label["stores"]:
                raise WorkflowError(f"element {symbol}: label.{key} {label[key]!r} is not one of label.stores "
                                    f"{label['stores']}")


_check_references()


def _check_potentials():
    """Every element's EAM file must exist, parse and hold the element: a bad one stops the run at
    start-up, naming the element and its config file, before any job has written anything."""
    from nnpdistill.errors import NNPDistillError
    from nnpdistill.potentials import load_eam

    for symbol, cfg in ELEMENTS.items():
        try:
            load_eam(symbol, path=cfg["potential"])
        except (NNPDistillError, OSError, ValueError) as exc:
            where = _where(element_config_path(BASE_DIR / config["element_config_dir"], symbol))
            raise WorkflowError(f"element {symbol} ({where}): potential {cfg['potential']!r}: {exc}") from None


_check_potentials()


def check_resources():
    """Refuse resource requests below config["resource_minimums"] (see nnpdistill.resources)."""
    from nnpdistill.resources import check_workflow_resources

    try:
        check_workflow_resources(workflow.rules, config["resource_minimums"])
    except ConfigError as exc:
        raise WorkflowError(str(exc)) from None


def element_cfg(wildcards):
    """The validated settings of the rule's {element}."""
    return ELEMENTS[wildcards.element]


def seed_for(*parts):
    """A reproducible per-job seed derived from the campaign's master seed."""
    return stage_seed(config["seed"], *parts)


def res(path):
    """A path under the results folder."""
    return f"{RESULTS}/{path}"


def table1_targets(element):
    """The paper's Table 1: ensembles trained on N frames of NPT-from-FCC, NPT-from-liquid and MOMT
    (for the source element only)."""
    if element != SOURCE_ELEMENT:
        return []
    nnp = ELEMENTS[element]["nnp"]
    sample = ELEMENTS[element]["sample"]
    if not nnp["table1_frames"] or nnp["table1_size"] not in sample["sizes"]:
        return []
    out = []
    for method in sample["methods"]:
        trainset = f"{element}/subset/{method}_{nnp['table1_size']}_n{nnp['table1_frames']}"
        out.append(res(f"{trainset}/crystals_nnp.md"))
        if "momt" in sample["methods"]:  # every dataset judged on the MOMT pool (paper Fig. S2)
            out.append(res(f"{trainset}/pred_momt_{nnp['table1_size']}/metrics.csv"))
    return out


def all_targets():
    targets = []
    for element, cfg in ELEMENTS.items():
        targets.append(res(f"{element}/eam/crystals.csv"))
        targets += sample_targets(element)
        targets += table1_targets(element)
        if cfg["distill"]["enabled"]:
            targets += distill_targets(element)
        targets += translate_targets(element)
        targets += label_targets(element)
        targets += validate_targets(element)
    return targets


# ---- helpers of the stage files (kept here so that those files hold only rules) ----


# used by sample.smk
def _sample_params(method):
    return dict(
        symbol=lambda wc: element_cfg(wc)["symbol"],
        potential=lambda wc: element_cfg(wc)["potential"],
        method=method if method != "npt" else (lambda wc: wc.npt_method),
        # only the keys that shape a run: which sizes/methods are wanted, or how a finished run is
        # reweighted, must not make Snakemake re-sample an existing pool (params trigger)
        cfg=lambda wc: {k: v for k, v in element_cfg(wc)["sample"].items() if k not in ("sizes", "methods", "reweight")},
        seed=lambda wc: seed_for("sample", wc.element, method if method != "npt" else wc.npt_method, wc.size),
    )



# used by sample.smk
def sample_targets(element):
    """Every sampling output of ``element`` (frame stores, plots, reweighting)."""
    cfg = ELEMENTS[element]["sample"]
    out = []
    for size in cfg["sizes"]:
        for method in cfg["methods"]:
            out.append(res(f"{element}/sample/{method}_{size}.h5"))
        if {"momt", "npt_fcc", "npt_liq"} <= set(cfg["methods"]):
            out.append(res(f"{element}/sample/plots/energy_{size}.png"))
        if "momt" in cfg["methods"]:
            out.append(res(f"{element}/sample/reweight_{size}.csv"))
    if ELEMENTS[element]["coexistence"]["enabled"]:
        out.append(res(f"{element}/coexistence/coexistence.png"))
        if "momt" in cfg["methods"]:
            out.append(res(f"{element}/sample/melting_comparison.md"))
    return out



# used by nnp.smk
def nnp_cfg(wc):
    return element_cfg(wc)["nnp"]



# used by nnp.smk
def train_settings(wc):
    """`nnp.train`, with `nnp.train_whole_pool` laid over it for a whole-pool training set."""
    nnp = nnp_cfg(wc)
    if wc.trainset.endswith("_all"):
        return {**nnp["train"], **nnp["train_whole_pool"]}
    return nnp["train"]


# used by nnp.smk
def training_frames(wc):
    if wc.trainset.startswith(("translated/", "labelled/")):
        return res(f"{wc.element}/{wc.trainset}.h5")
    return res(f"{wc.element}/{wc.trainset}/train.h5")



# used by nnp.smk
def member_seed(wc):
    """Seed of one ensemble member. In the distillation loop it depends on the iteration and member
    only, not the strategy: every strategy trains the same models on the same iteration-0 frames, so
    the curves differ by their selections alone."""
    if wc.trainset.startswith("distill/"):
        return seed_for("train_member", wc.element, "distill", wc.trainset.rpartition("iter_")[2], wc.member,
                        *replicate_parts(wc))
    return seed_for("train_member", wc.element, wc.trainset, wc.member)


def replicate_parts(wc):
    """Extra seed parts of a replicate distillation (``distill.replicate`` > 0); none for replicate 0,
    so the recorded campaign keeps its seeds and files bit for bit."""
    r = element_cfg(wc)["distill"]["replicate"]
    return ("replicate", r) if r else ()


def previous_trainset(wc):
    """For iteration i > 0 of the distillation loop, the folder of iteration i - 1 (else "")."""
    head, _, tail = wc.trainset.rpartition("iter_")  # head: "distill/{strategy}/"
    if not wc.trainset.startswith("distill/") or int(tail) == 0:
        return ""
    return res(f"{wc.element}/{head}iter_{int(tail) - 1}")



# used by nnp.smk
def member_models(wc):
    return [res(f"{wc.element}/{wc.trainset}/members/{m}/model.pt") for m in range(nnp_cfg(wc)["n_members"])]



# used by distill.smk
def distill_cfg(wc):
    return element_cfg(wc)["distill"]



# used by distill.smk
def selection_pool(wc):
    return res(f"{wc.element}/sample/{distill_cfg(wc)['pool']}.h5")



# used by distill.smk: the settings each strategy's selection step reads, so that tuning one
# strategy (e.g. the uncertainty guard) does not re-run the baselines' selections
SELECTION_KEYS = ("n_per_iteration", "target_mae_meV_per_atom", "target_uq_eV")
# strategy names as a wildcard pattern, longest first (fps_aev before fps)
STRATEGY_PATTERN = "|".join(sorted(STRATEGIES, key=len, reverse=True))



# used by distill.smk
def selection_settings(wc):
    cfg = distill_cfg(wc)
    keys = SELECTION_KEYS + REGISTRY[wc.strategy].config_keys
    if cfg["target_uq_eV"] is not None and "score" not in keys:
        keys += ("score",)  # the early-stop uncertainty target reads the frame score
    return {key: cfg[key] for key in keys}



# used by distill.smk
def previous_iteration(wc, path):
    return res(f"{wc.element}/distill/{wc.strategy}/iter_{int(wc.iteration) - 1}/{path}")



# used by distill.smk
def final_iteration(element):
    return ELEMENTS[element]["distill"]["n_iterations"]



# used by distill.smk
def selection_scores(wc):
    """The scores select_frames reads. The uncertainty and ceiling strategies (and any strategy under
    an early-stop target) need the previous iteration's ensemble; random, grid and FPS only need the pool's energies
    and order parameters, which every scores file of the pool holds, so they read iteration 0's and
    their chain of selections does not wait for (or force) the training of every iteration."""
    cfg = distill_cfg(wc)
    needs_model = wc.strategy in MODEL_STRATEGIES or cfg["target_mae_meV_per_atom"] is not None \
        or cfg["target_uq_eV"] is not None
    it = int(wc.iteration) - 1 if needs_model else 0
    return res(f"{wc.element}/distill/{wc.strategy}/iter_{it}/pred_{cfg['pool']}/scores.csv")


# used by distill.smk
def selection_descriptors(wc):
    """fps_aev and direct read the frames' pooled descriptors from the selection pool's AEV cache."""
    if wc.strategy not in DESCRIPTOR_STRATEGIES:
        return []
    return res(f"{wc.element}/sample/aev/{distill_cfg(wc)['pool']}.h5")


# used by distill.smk
def evaluated_iterations(cfg, strategy):
    """Iterations whose ensemble is trained and scored for the learning curve: every one for the
    uncertainty loop and the ceiling; for a baseline, those of ``baseline_iterations`` or else every
    ``baseline_stride``-th one (0, s, 2s, ...), and always 0 and the final iteration."""
    final = cfg["n_iterations"]
    if strategy in MODEL_STRATEGIES:  # every iteration's ensemble is trained and scored anyway
        return list(range(final + 1))
    if cfg.get("baseline_iterations") is not None:
        chosen = {it for it in cfg["baseline_iterations"] if it <= final}
    else:
        chosen = set(range(0, final + 1, cfg["baseline_stride"]))
    # iteration 0 (shared with the loop) and the final budget are always compared
    return sorted(chosen | {0, final})


# used by distill.smk
def curve_inputs(wc):
    cfg = ELEMENTS[wc.element]["distill"]
    out = {"pool": res(f"{wc.element}/sample/{cfg['pool']}.h5")}
    for strategy in cfg["strategies"]:
        for it in evaluated_iterations(cfg, strategy):
            base = f"{wc.element}/distill/{strategy}/iter_{it}"
            out[f"{strategy}/{it}/selection"] = res(f"{base}/selection.csv")
            for pool in cfg["eval_pools"]:
                out[f"{strategy}/{it}/{pool}"] = res(f"{base}/pred_{pool}/metrics.csv")
    return out



# used by distill.smk
def distill_targets(element):
    cfg = ELEMENTS[element]["distill"]
    final = cfg["n_iterations"]
    out = [res(f"{element}/distill/learning_curve.csv"), res(f"{element}/distill/figure2.png")]
    for strategy in cfg["strategies"]:
        out.append(res(f"{element}/distill/{strategy}/manifest.json"))
    # Table 2: the final distilled ensemble and, for comparison, one trained on the whole pool
    out.append(res(f"{element}/distill/uncertainty/iter_{final}/crystals_nnp.md"))
    if cfg["whole_pool_control"]:
        out.append(res(f"{element}/subset/{cfg['pool']}_all/crystals_nnp.md"))
        for pool in cfg["eval_pools"]:
            out.append(res(f"{element}/subset/{cfg['pool']}_all/pred_{pool}/metrics.csv"))
    return out



# used by nnp.smk
def validated_trainset(element, name):
    """The training-set folder of an entry of ``validate.ensembles`` (aliases: distilled, whole_pool)."""
    d = ELEMENTS[element]["distill"]
    if name == "distilled":
        return f"distill/uncertainty/iter_{d['n_iterations']}"
    if name == "whole_pool":
        return f"subset/{d['pool']}_all"
    return name


def validate_targets(element):
    cfg = ELEMENTS[element]["validate"]
    if not cfg["ensembles"]:
        return []
    if ELEMENTS[element]["reference"]["kind"] != "eam":
        raise WorkflowError(f"element {element}: validate.ensembles needs the EAM as reference (MD with "
                            f"{ELEMENTS[element]['reference']['kind']!r} is not run); leave it empty")
    if cfg["melting_point_K"] is None and not ELEMENTS[element]["coexistence"]["enabled"]:
        raise WorkflowError(f"element {element}: validate.melting_point_K is null and coexistence is not "
                            "enabled: set one of them")
    return [res(f"{element}/{validated_trainset(element, name)}/validate/validation.csv")
            for name in cfg["ensembles"]]


def validation_inputs(wc):
    out = {"members": member_models(wc)}
    if element_cfg(wc)["validate"]["melting_point_K"] is None:
        out["coexistence"] = res(f"{wc.element}/coexistence/coexistence.json")
    return out


# used by translate.smk
def translate_cfg(wc):
    return element_cfg(wc)["translate"]



# used by translate.smk
def translate_targets(element):
    """Translated training set, its ensemble on the target's pool and crystals, and the control."""
    cfg = ELEMENTS[element]["translate"]
    if element == SOURCE_ELEMENT or not cfg["enabled"]:
        return []
    source_cfg = ELEMENTS[SOURCE_ELEMENT]["distill"]
    n_frames = source_cfg["n_initial"] + source_cfg["n_iterations"] * source_cfg["n_per_iteration"]
    out = []
    for trainset in (f"translated/from_{SOURCE_ELEMENT}", f"subset/{cfg['eval_pool']}_n{n_frames}"):
        out.append(res(f"{element}/{trainset}/pred_{cfg['eval_pool']}/metrics.csv"))
        out.append(res(f"{element}/{trainset}/crystals_nnp.md"))
    return out



# used by report.smk
def summary_inputs(wildcards):
    """Named inputs of write_summary: whatever the configured campaign produces."""
    out = {}
    for element, cfg in ELEMENTS.items():
        out[f"eam/{element}"] = res(f"{element}/eam/crystals.csv")
    source = SOURCE_ELEMENT
    scfg, ncfg, dcfg = (ELEMENTS[source][k] for k in ("sample", "nnp", "distill"))
    if ncfg["table1_frames"] and ncfg["table1_size"] in scfg["sizes"]:
        for method in scfg["methods"]:
            ts = f"{source}/subset/{method}_{ncfg['table1_size']}_n{ncfg['table1_frames']}"
            out[f"table1/{method}"] = res(f"{ts}/crystals_nnp.csv")
            if "momt" in scfg["methods"]:
                out[f"table1_mae/{method}"] = res(f"{ts}/pred_momt_{ncfg['table1_size']}/metrics.csv")
    if dcfg["enabled"]:
        final = f"{source}/distill/uncertainty/iter_{dcfg['n_iterations']}"
        if "uncertainty" in dcfg["strategies"]:
            out["table2/distilled"] = res(f"{final}/crystals_nnp.csv")
        if dcfg["whole_pool_control"]:
            out["table2/whole"] = res(f"{source}/subset/{dcfg['pool']}_all/crystals_nnp.csv")
        out["curve"] = res(f"{source}/distill/learning_curve.csv")
        n_frames = dcfg["n_initial"] + dcfg["n_iterations"] * dcfg["n_per_iteration"]
        for element, cfg in ELEMENTS.items():
            if element == source or not cfg["translate"]["enabled"]:
                continue
            pool = cfg["translate"]["eval_pool"]
            out[f"table3/{element}"] = res(f"{element}/translated/from_{source}/crystals_nnp.csv")
            out[f"fig3/{element}/translated"] = res(f"{element}/translated/from_{source}/pred_{pool}/metrics.csv")
            out[f"fig3/{element}/control"] = res(f"{element}/subset/{pool}_n{n_frames}/pred_{pool}/metrics.csv")
    return out



# used by nnp.smk: the crystal table an ensemble is compared with. An ensemble trained on frames
# labelled by a non-EAM reference (DFT) is judged against that reference's own crystals.
def reference_crystals(wc):
    if wc.trainset.startswith("labelled/") and element_cfg(wc)["reference"]["kind"] != "eam":
        return res(f"{wc.element}/reference/crystals.csv")
    return res(f"{wc.element}/eam/crystals.csv")


def reference_name(wc):
    """How the crystal table's reference row is labelled: EAM, or the reference kind (CP2K, ASE)."""
    if reference_crystals(wc) == res(f"{wc.element}/eam/crystals.csv"):
        return "EAM"
    return element_cfg(wc)["reference"]["kind"].upper()


# used by translate.smk: the distilled source frames, or a given store (translate.source_frames)
def translate_source_frames(wc):
    given = translate_cfg(wc)["source_frames"]
    if given:
        return given
    return res(f"{wc.source}/distill/{translate_cfg(wc)['strategy']}/distilled.h5")


# used by label.smk
LABEL_STORE_REGEX = (r"translated/from_[A-Z][a-z]?|sample/(momt|npt_fcc|npt_liq)_\d+"
                     r"|subset/(momt|npt_fcc|npt_liq)_\d+_n\d+/train|distill/[a-z_]+/distilled"
                     r"|(distill/[a-z_]+/iter_\d+|subset/(momt|npt_fcc|npt_liq)_\d+_(all|n\d+))/validate/candidates")


def label_cfg(wc):
    return element_cfg(wc)["label"]


def label_chunks(wc):
    n = label_cfg(wc)["n_chunks"]
    return [res(f"{wc.element}/labelled/{wc.store}/chunk_{k}.h5") for k in range(n)]


def labelled_trainsets(element):
    """Training sets of labelled frames: the whole labelled store and its train_sizes subsets."""
    label = ELEMENTS[element]["label"]
    if not label["train_store"]:
        return []
    base = f"labelled/{label['train_store']}"
    return [base] + [f"{base}_n{n}" for n in label["train_sizes"]]


def labelled_curve_inputs(wc):
    label = ELEMENTS[wc.element]["label"]
    return {ts: res(f"{wc.element}/{ts}/test/metrics.csv") for ts in labelled_trainsets(wc.element)} | {
        f"frames:{ts}": res(f"{wc.element}/{ts}.h5") for ts in labelled_trainsets(wc.element)}


def label_targets(element):
    """Labelled stores, their summaries; with a training store: the ensembles, test-set metrics,
    the learning curve and the crystals against the reference's own."""
    cfg = ELEMENTS[element]
    label = cfg["label"]
    out = []
    for store in label["stores"]:
        out.append(res(f"{element}/labelled/{store}.h5"))
        out.append(res(f"{element}/labelled/{store}_summary.json"))
    trainsets = labelled_trainsets(element)
    if trainsets:
        out.append(res(f"{element}/{trainsets[0]}/crystals_nnp.md"))
        if label["test_store"]:
            out += [res(f"{element}/{ts}/test/metrics.csv") for ts in trainsets]
            out.append(res(f"{element}/labelled/learning_curve.csv"))
    if cfg["reference"]["kind"] != "eam":
        out.append(res(f"{element}/reference/crystals.csv"))
    return out
