"""The step classes, by type name: one small module per family."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from twostep.journeys.steps.base import Step
from twostep.journeys.steps.consent import ConsentStep
from twostep.journeys.steps.control import CompleteStep, ConditionStep, RejectStep, SetVariableStep
from twostep.journeys.steps.delivery import SendCodeStep
from twostep.journeys.steps.password import PasswordStep
from twostep.journeys.steps.recovery import RecoveryCodeStep, ShowRecoveryCodesStep
from twostep.journeys.steps.totp import AuthenticateTotpStep, DisableTotpStep, RegisterTotpStep

__all__ = ["REGISTRY", "Step"]

REGISTRY: Mapping[str, type[Step]] = MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            PasswordStep,
            RegisterTotpStep,
            AuthenticateTotpStep,
            RecoveryCodeStep,
            ShowRecoveryCodesStep,
            ConsentStep,
            SendCodeStep,
            DisableTotpStep,
            ConditionStep,
            SetVariableStep,
            CompleteStep,
            RejectStep,
        )
    }
)
