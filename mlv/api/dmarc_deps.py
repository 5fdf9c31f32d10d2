"""Dependencies of the DMARC routes: the engine and the settings (tests override these)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy import Engine

from mlv.api import deps
from mlv.config import Settings


def engine_dep() -> Engine:
    return deps.engine()


def settings_dep() -> Settings:
    return deps.settings()


EngineDep = Annotated[Engine, Depends(engine_dep)]
SettingsDep = Annotated[Settings, Depends(settings_dep)]
