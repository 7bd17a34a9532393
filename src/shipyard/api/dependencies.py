"""What routes receive from the app: its settings, the database (SQLAlchemy), the platform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from shipyard.api._events import EventStreamOptions
from shipyard.catalog import Platform
from shipyard.settings import Settings

__all__ = ["AppState", "DatabaseDep", "PlatformDep", "SettingsDep", "app_state"]


@dataclass(frozen=True, slots=True)
class AppState:
    """Built by the lifespan; routes reach it through the dependencies below."""

    settings: Settings
    database: Engine
    platform: Platform | None
    event_stream: EventStreamOptions


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.shipyard
    return state


def _database(request: Request) -> Engine:
    return app_state(request).database


def _settings(request: Request) -> Settings:
    return app_state(request).settings


def _platform(request: Request) -> Platform | None:
    return app_state(request).platform


DatabaseDep = Annotated[Engine, Depends(_database)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PlatformDep = Annotated[Platform | None, Depends(_platform)]
