"""What routes receive from the app: its settings, the database engine, the platform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from shipyard.api._events import EventStreamOptions
from shipyard.catalog import Platform
from shipyard.settings import Settings

__all__ = ["AppState", "EngineDep", "PlatformDep", "SettingsDep", "app_state"]


@dataclass(frozen=True, slots=True)
class AppState:
    """Built by the lifespan; routes reach it through the dependencies below."""

    settings: Settings
    engine: Engine
    platform: Platform | None
    event_stream: EventStreamOptions


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.shipyard
    return state


def _engine(request: Request) -> Engine:
    return app_state(request).engine


def _settings(request: Request) -> Settings:
    return app_state(request).settings


def _platform(request: Request) -> Platform | None:
    return app_state(request).platform


EngineDep = Annotated[Engine, Depends(_engine)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PlatformDep = Annotated[Platform | None, Depends(_platform)]
