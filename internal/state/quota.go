package state

// QuotaGuard is the record a creation counted against a quota of a whole
// scope rewrites (the clusters of an account in a Region, say). Such
// creations touch no common record otherwise, so two of them racing at the
// limit would each count the other's absence and both succeed; rewriting
// the guard, at the revision their count was made on, makes the second
// conflict and count again. Quotas of one parent (services per cluster)
// rewrite the parent instead. It holds no count: counts are derived from
// the records at read time.
type QuotaGuard struct {
	Schema int    `json:"schema"`
	Counts string `json:"counts"` // what the guarded quota counts, e.g. "clusters"
}

const QuotaGuardSchema = 1

// QuotaGuardClusters guards the clusters-per-account quota.
const QuotaGuardClusters = "clusters"

// QuotaGuardParameters guards the SSM parameters-per-account quota.
const QuotaGuardParameters = "ssm-parameters"
