"""Stacks: one Pulumi stack per (component, environment)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.store.errors import NotFoundError
from shipyard.store.models import Component, Environment, Stack

__all__ = ["ensure_stack", "get_stack", "list_stacks", "pulumi_project", "stack_key"]


def stack_key(component: Component, environment: Environment) -> str:
    """``namespace/name/environment``: the stack's lane in the job queue."""
    return f"{component.ref}/{environment.name}"


def pulumi_project(component: Component) -> str:
    """The component's name; namespaced outside ``default`` so two never share state."""
    if component.namespace == "default":
        return component.name
    return f"{component.namespace}.{component.name}"


def ensure_stack(session: Session, component: Component, environment: Environment) -> Stack:
    """The stack of ``component`` in ``environment``, created on first use."""
    query = select(Stack).where(
        Stack.component_id == component.id, Stack.environment_id == environment.id
    )
    stack = session.scalars(query).one_or_none()
    if stack is None:
        stack = Stack(
            key=stack_key(component, environment),
            component_id=component.id,
            environment_id=environment.id,
            project=pulumi_project(component),
            stack_name=environment.name,
        )
        session.add(stack)
        session.flush()
    return stack


def get_stack(session: Session, key: str) -> Stack:
    stack = session.scalars(select(Stack).where(Stack.key == key)).one_or_none()
    if stack is None:
        raise NotFoundError("stack", key)
    return stack


def list_stacks(session: Session, component: Component) -> Sequence[Stack]:
    query = (
        select(Stack)
        .join(Environment, Stack.environment_id == Environment.id)
        .where(Stack.component_id == component.id)
        .order_by(Environment.position)
    )
    return session.scalars(query).all()
