from insights.services.rollups import FoldResult, fold_lag, rollups_fold, rollups_rebuild

__all__ = ["FoldResult", "fold_lag", "rollups_fold", "rollups_rebuild"]
