"""Referral stage: referral logs, recruitment graphs and respondent-driven-sampling estimators."""
from hiddenpop.rds.tree import RecruitmentTree, build_tree

__all__ = ["RecruitmentTree", "build_tree"]
