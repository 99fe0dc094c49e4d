package ssm

// SetParameterLimit lowers the parameters an account may keep in a region,
// so that a test reaches ParameterLimitExceeded with a few puts; it returns
// the function that restores it. The test's server runs in this process.
func SetParameterLimit(n int) (restore func()) {
	old := maxParameters
	maxParameters = n
	return func() { maxParameters = old }
}
