"""The one checkpoint file of every learned part: written and read back, damaged or foreign
files refused naming them, path arguments resolved alike, the shipped files read by it."""
from __future__ import annotations

import pytest
import torch

from bodyfit.fileio.checkpoints import (CheckpointError, CheckpointMissing, format_tag, half_precision,
                                        read_checkpoint, resolve_checkpoint, write_checkpoint)
from bodyfit.gender.network import DEFAULT_CHECKPOINT as GENDER_DEFAULT
from bodyfit.gender.network import GenderNet, load_checkpoint
from bodyfit.gender.network import save_checkpoint as save_gender
from bodyfit.regressor.checkpoint import DEFAULT_CHECKPOINT as REGRESSOR_DEFAULT
from bodyfit.regressor.checkpoint import load_regressor, resolve
from bodyfit.regressor.temporal import DEFAULT_TEMPORAL, load_temporal
from bodyfit.resources import model_path
from bodyfit.vposer.checkpoint import DEFAULT_CHECKPOINT as VPOSER_DEFAULT
from bodyfit.vposer.checkpoint import load_vposer, resolve_vposer

SHIPPED = {"vposer": VPOSER_DEFAULT, "regressor": REGRESSOR_DEFAULT, "temporal": DEFAULT_TEMPORAL}


def small_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).state_dict()


def test_round_trip_gives_back_what_was_written(tmp_path):
    state = small_state()
    shape = {"width": 4, "layers": [1, 2], "name": "x"}
    extra = {"step": 7, "history": [{"loss": 0.5}], "optimizer": {"lr": torch.tensor(1e-3)}}
    path = write_checkpoint(tmp_path / "run" / "part.pt", "part", shape, state, extra)
    assert path == tmp_path / "run" / "part.pt" and [p.name for p in path.parent.iterdir()] == ["part.pt"]
    read = read_checkpoint(path, "part")
    assert (read.kind, read.shape, read.path) == ("part", shape, path)
    assert list(read.state_dict) == list(state)
    assert all(torch.equal(read.state_dict[k], state[k]) and read.state_dict[k].dtype == state[k].dtype for k in state)
    assert read.extra["step"] == 7 and read.extra["history"] == extra["history"]
    assert torch.equal(read.extra["optimizer"]["lr"], extra["optimizer"]["lr"])
    assert torch.load(path, weights_only=True)["format"] == format_tag("part") == "bodyfit-part-1"
    with pytest.raises(ValueError, match="shape"):
        write_checkpoint(tmp_path / "clash.pt", "part", shape, state, {"shape": {}})


def test_half_precision_keeps_integer_buffers():
    half = half_precision(small_state())
    assert half["0.weight"].dtype == torch.float16 and half["1.num_batches_tracked"].dtype == torch.int64


def test_a_damaged_file_is_refused_naming_it(tmp_path):
    write_checkpoint(tmp_path / "whole.pt", "part", {}, small_state())
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes((tmp_path / "whole.pt").read_bytes()[:200])  # a write cut short
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for path in (damaged, tmp_path / "junk.pt"):
        with pytest.raises(CheckpointError, match=f"{path.name}: not a bodyfit part checkpoint .*unreadable"):
            read_checkpoint(path, "part")
    torch.save({"format": "bodyfit-part-1", "shape": {}, "state_dict": [1, 2]}, tmp_path / "no_weights.pt")
    with pytest.raises(CheckpointError, match="no_weights.pt: a damaged part checkpoint"):
        read_checkpoint(tmp_path / "no_weights.pt", "part")
    with pytest.raises(CheckpointMissing, match="missing.pt: no such file.*train one") as missing:
        read_checkpoint(tmp_path / "missing.pt", "part", missing_hint=" (train one)")
    assert isinstance(missing.value, FileNotFoundError) and isinstance(missing.value, ValueError)


def test_pickled_objects_are_refused_not_run(tmp_path):
    torch.save({"format": "bodyfit-part-1", "shape": {}, "state_dict": {}, "obj": object()}, tmp_path / "p.pt")
    with pytest.raises(CheckpointError, match="p.pt: .*unreadable"):
        read_checkpoint(tmp_path / "p.pt", "part")


def test_a_checkpoint_of_another_kind_is_refused(tmp_path):
    write_checkpoint(tmp_path / "vposer.pt", "vposer", {}, small_state())
    with pytest.raises(CheckpointError, match="vposer.pt: not a bodyfit regressor checkpoint.*holds a vposer"):
        read_checkpoint(tmp_path / "vposer.pt", "regressor")
    torch.save({"weights": 1}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="plain.pt: not a bodyfit gender classifier checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="vposer.pt: not a bodyfit regressor checkpoint"):
        load_regressor(tmp_path / "vposer.pt")
    with pytest.raises(CheckpointError, match="vposer.pt: not a bodyfit temporal regressor checkpoint"):
        load_temporal(tmp_path / "vposer.pt")
    save_gender(tmp_path / "gender.pt", GenderNet(32), {})
    with pytest.raises(CheckpointError, match="gender.pt: not a bodyfit VPoser checkpoint.*holds a gender"):
        load_vposer(tmp_path / "gender.pt")


def test_path_arguments_resolve_alike(tmp_path):
    default = model_path("part", "open", "part.pt")
    assert resolve_checkpoint(None, default, "part.pt") == default
    assert resolve_checkpoint("default", default, "part.pt") == default
    assert resolve_checkpoint(tmp_path, default, "part.pt") == tmp_path / "part.pt"
    assert resolve_checkpoint(str(tmp_path / "x.pt"), default, "part.pt") == tmp_path / "x.pt"
    assert resolve_checkpoint(tmp_path / "absent", default, "part.pt") == tmp_path / "absent"


@pytest.mark.parametrize("kind", sorted(SHIPPED))
def test_the_default_is_the_shipped_file_and_it_reads(kind):
    default = SHIPPED[kind]
    assert default == model_path(kind, "open_corpus", f"{kind}.pt") and default.is_file()
    assert {"vposer": resolve_vposer, "regressor": resolve}.get(kind, lambda p: default)("default") == default
    read = read_checkpoint(default, kind)
    assert read.shape and read.state_dict and read.extra
    assert all(isinstance(value, torch.Tensor) for value in read.state_dict.values())


def test_the_shipped_models_load_by_default():
    assert load_vposer("default")[0].latent_size == load_vposer(None)[0].latent_size == 32
    assert load_regressor(None).shape == load_regressor("default").shape
    assert load_temporal("default").shape == load_temporal(None).shape
    assert GENDER_DEFAULT == model_path("gender", "open_synthetic", "gender.pt")
    if not GENDER_DEFAULT.is_file():  # none is shipped yet: the message says so and how to train one
        with pytest.raises(FileNotFoundError, match="gender.pt: no such file.*none is shipped yet.*bodyfit train-gender"):
            load_checkpoint("default")
