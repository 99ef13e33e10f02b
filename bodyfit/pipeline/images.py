"""Single images as a run's fit strategy: every person of every image a task, people of several
images fitted together in batches (in this process or on Ray actors), each from its own start."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from bodyfit.bodymodels.files import ModelFileError
from bodyfit.fileio.config import plain
from bodyfit.fileio.openpose_json import ImageItem
from bodyfit.fitting.config import FitConfig
from bodyfit.fitting.core import ModelBank
from bodyfit.fitting.tasks import ModelKey
from bodyfit.pipeline.engines import Engine, PlainEngine, RayEngine, RayOptions
from bodyfit.pipeline.folder import FolderOptions, fit_folder
from bodyfit.pipeline.results import ResultWriter
from bodyfit.pipeline.runner import RunError, RunOptions

log = logging.getLogger("bodyfit")


@dataclass
class ImageStrategy:
    """Fits each image's people with ``key``'s model (with a gender chooser in ``folder``:
    of the gender chosen per person). ``ray``: fit on Ray actors, which load the models on
    ``device`` themselves; this process then only reads, checks and writes on the CPU."""

    config: FitConfig
    key: ModelKey
    folder: FolderOptions
    model_folder: str | None = None
    device: str = "cpu"
    ray: RayOptions | None = None
    bank: ModelBank | None = None    # models already loaded (None: loaded here, on first use)
    resumes_per_image: bool = True

    def __post_init__(self) -> None:
        if self.bank is None:
            self.bank = ModelBank({self.key.model_type: self.config}, self.model_folder,
                                  "cpu" if self.ray else self.device)

    def check(self) -> None:
        """Every model the run may use, loaded now (a missing file or a bad checkpoint is one
        line before any image is read)."""
        try:
            self.bank.fitter(self.key)
            if self.folder.gender_chooser is not None:
                for gender in ("male", "female"):
                    self.bank.model(ModelKey(self.key.model_type, gender))
            if self.config.init == "regressor":
                self._check_regressor()
        except (ModelFileError, FileNotFoundError, ValueError) as error:
            raise RunError(str(error)) from error

    def _check_regressor(self) -> None:
        from bodyfit.fitting.regressor_init import cached_regressor
        from bodyfit.regressor.checkpoint import resolve

        path = resolve(self.config.regressor.checkpoint)
        device = str(self.bank.model(self.key).smpl.v_template.device)  # as the fit will ask for it
        if cached_regressor(str(path), device).shape.encoder == "rgb":
            raise ValueError(f"{path}: an RGB regressor; fits start from keypoint regressors "
                             "(keypoints or heatmaps encoders)")

    def resolved(self) -> dict[str, Any]:
        resolved: dict[str, Any] = {"fit": self.config.to_dict()}
        chooser = self.folder.gender_chooser
        if chooser is not None:
            resolved["gender"] = {"config": plain(chooser.config), "classifier": chooser.about}
        return resolved

    def faces(self, key: ModelKey) -> Any:
        return self.bank.model(key).faces

    def engine(self) -> Engine:
        """This process, or Ray actors (``RunError`` when Ray is missing or misconfigured)."""
        if self.ray is None:
            return PlainEngine(self.bank)
        try:
            started = time.perf_counter()
            engine = RayEngine(self.bank.configs, self.model_folder, self.device, self.ray)
        except (ImportError, ValueError) as error:
            raise RunError(str(error)) from error
        log.info("Ray: %d workers started in %.1f s", self.ray.workers, time.perf_counter() - started)
        return engine

    def fit(self, items: list[ImageItem], writer: ResultWriter, options: RunOptions) -> dict[str, Any]:
        engine = self.engine() if items else PlainEngine(self.bank)
        try:
            fit_folder(items, self.bank, self.key, writer, self.folder, engine)
        finally:
            engine.close()
        return {}
