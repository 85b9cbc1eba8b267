"""The camera and platform simulator: synthetic stand-ins for the paper's datasets (Eq. 1-2, Sec. 4.1).

- :mod:`~csi.simulator.camera`: the sensor and camera pipeline (Eq. 1-2), the oracle twin;
- :mod:`~csi.simulator.scenes`: scene content ``Y`` (dead leaves, flat scenes, bundled photos);
- :mod:`~csi.simulator.platforms`: social-platform profiles and the upload transform;
- :mod:`~csi.simulator.recipes`: the datasets ``our``, ``kaggle``, ``vision``, ``daxing`` in their real layouts.

Every default and its reason: ``docs/data.md``.

Examples
--------
>>> from csi import simulator as S
>>> S.recipe_plan("our", "smoke")["sensor_shape"]
[240, 320]
"""

from . import camera, platforms, recipes, scenes
from .camera import (
    CFA_PATTERNS,
    DEMOSAIC_METHODS,
    JPEG_SUBSAMPLINGS,
    SENSOR_DEFAULTS,
    demosaic,
    device_prnu,
    encode_jpeg,
    model_processing,
    mosaic,
    render_jpeg,
    render_pair,
    render_raw,
)
from .platforms import (
    PAPER_PLATFORMS,
    PLATFORMS,
    REAL_LONG_SIDE,
    WATERMARK_STYLE,
    apply_platform,
    draw_watermark,
    get_profile,
    load_profiles,
    platform_size,
    strip_jpeg_metadata,
)
from .recipes import (
    DAXING_MODELS,
    DAXING_SMOKE,
    KAGGLE_CLASSES,
    KAGGLE_MANIPULATIONS,
    NAT_MIX,
    OUR_DEVICES,
    OUR_MIX,
    RECIPES,
    SIMULATOR_VERSION,
    TWINS_DIR,
    VISION_DEVICES,
    VISION_FOLDERS,
    VISION_SMOKE,
    build_dataset,
    dataset_dir,
    ground_truth,
    read_manifest,
    recipe_counts,
    recipe_plan,
    simulator_digest,
)
from .scenes import PHOTO_SOURCES, SCENE_KINDS, choose_kind, make_scene, srgb_to_linear

__all__ = [
    "camera", "platforms", "recipes", "scenes",
    "CFA_PATTERNS", "DEMOSAIC_METHODS", "JPEG_SUBSAMPLINGS", "SENSOR_DEFAULTS", "demosaic", "device_prnu",
    "encode_jpeg", "model_processing", "mosaic", "render_jpeg", "render_pair", "render_raw",
    "PAPER_PLATFORMS", "PLATFORMS", "REAL_LONG_SIDE", "WATERMARK_STYLE", "apply_platform", "draw_watermark",
    "get_profile", "load_profiles", "platform_size", "strip_jpeg_metadata",
    "DAXING_MODELS", "DAXING_SMOKE", "KAGGLE_CLASSES", "KAGGLE_MANIPULATIONS", "NAT_MIX", "OUR_DEVICES", "OUR_MIX",
    "RECIPES", "SIMULATOR_VERSION", "TWINS_DIR", "VISION_DEVICES",
    "VISION_FOLDERS", "VISION_SMOKE", "build_dataset", "dataset_dir", "ground_truth", "read_manifest",
    "recipe_counts", "recipe_plan", "simulator_digest",
    "PHOTO_SOURCES", "SCENE_KINDS", "choose_kind", "make_scene", "srgb_to_linear",
]  # fmt: skip
