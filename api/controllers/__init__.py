"""HTTP controllers, one class per resource."""

from __future__ import annotations

from api.controllers.interactions import InteractionController
from api.controllers.items import ItemController
from api.controllers.recommendations import RecommendationController
from api.controllers.system import SystemController
from api.controllers.users import UserController

CONTROLLERS = (
    RecommendationController,
    ItemController,
    UserController,
    InteractionController,
    SystemController,
)

__all__ = [
    "CONTROLLERS",
    "InteractionController",
    "ItemController",
    "RecommendationController",
    "SystemController",
    "UserController",
]
