package ssm

import (
	"strings"

	api "github.com/berth-project/berth/api/ssm"
)

// SSM's limits on names (docs: "Requirements and constraints for parameter
// names").
const (
	maxNameLength  = 2048 // the whole name, its path included
	maxLevels      = 15   // levels of a hierarchy
	maxValueChars  = 4096 // a Standard parameter's value
	maxAdvancedLen = 8192 // an Advanced parameter's value
	maxVersions    = 100  // versions SSM keeps; the oldest goes first
)

// maxParameters is the Standard-tier quota of parameters per account and
// region (a variable so a test can reach it without 10,000 puts).
var maxParameters = 10000

// nameMessage is SSM's own words for every malformed name, including one
// with a reserved prefix, a space, or a path without its leading slash.
const nameMessage = `Parameter name: can't be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`

// checkName returns the exception a malformed parameter name gets.
func checkName(name string) error {
	if name == "" {
		return api.NewValidationException("1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(name) > maxNameLength {
		return api.NewValidationException("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to %d", maxNameLength)
	}
	if !wellFormed(name) {
		return api.NewValidationException(nameMessage)
	}
	if levels(name) > maxLevels {
		return api.NewHierarchyLevelLimitExceededException("A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the Amazon Web Services Systems Manager User Guide.")
	}
	return nil
}

// wellFormed: letters, digits and .-_ in segments divided by "/"; a name
// with a "/" begins with one; no empty segment; no segment after the
// leading slash (nor the bare name) starting with "aws" or "ssm", whatever
// the case.
func wellFormed(name string) bool {
	rest := name
	if strings.HasPrefix(name, "/") {
		rest = name[1:]
	} else if strings.Contains(name, "/") {
		return false
	}
	first := strings.ToLower(rest)
	if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return false
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" {
			return false
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// levels counts a name's levels: "/a/b/c" has 3, "a" has 1.
func levels(name string) int {
	return strings.Count(strings.TrimPrefix(name, "/"), "/") + 1
}

// checkPath returns the exception a malformed GetParametersByPath path gets;
// the path is returned with one trailing slash, as a key prefix.
func checkPath(path string) (string, error) {
	if path == "/" {
		return "/", nil
	}
	trimmed := strings.TrimSuffix(path, "/")
	if !strings.HasPrefix(path, "/") || len(path) > maxNameLength || !wellFormed(trimmed) {
		return "", api.NewValidationException("The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\".")
	}
	if levels(trimmed) > maxLevels {
		return "", api.NewHierarchyLevelLimitExceededException("A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the Amazon Web Services Systems Manager User Guide.")
	}
	return trimmed + "/", nil
}
