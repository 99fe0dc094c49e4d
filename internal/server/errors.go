package server

import (
	"errors"

	"github.com/berth-project/berth/api/ecs"
	"github.com/berth-project/berth/internal/placement"
	"github.com/berth-project/berth/internal/state"
)

// The ECS errors that several operations answer, each written once with
// ECS's exception and words. Errors one operation alone answers stay with
// it.

// wireError is where the state's sentinels become ECS's errors: the one
// place that decides what a client is told of a failure below the API.
func wireError(err error) error {
	switch {
	case errors.Is(err, state.ErrCorrupt):
		return errServiceUnavailable()
	case errors.Is(err, state.ErrClusterNotFound):
		return ecs.NewClusterNotFoundException("%s", state.ErrClusterNotFound.Error())
	case errors.Is(err, state.ErrTaskNotFound):
		return ecs.NewInvalidParameterException("%s", state.ErrTaskNotFound.Error())
	case errors.Is(err, placement.ErrNoInstances):
		return ecs.NewInvalidParameterException("%s", placement.ErrNoInstances.Error())
	}
	return err
}

func errServiceUnavailable() error {
	return ecs.NewServerException("Service Unavailable. Please try again later.")
}

func errInvalidNextToken() error { return ecs.NewInvalidParameterException("Invalid nextToken.") }

func errInvalidARN() error { return ecs.NewInvalidParameterException("The ARN provided is invalid.") }

func errServiceNotFound() error { return ecs.NewServiceNotFoundException("Service not found.") }

func errServiceNotActive() error { return ecs.NewServiceNotActiveException("Service was not ACTIVE.") }

func errMaxResults(max int) error {
	return ecs.NewInvalidParameterException("maxResults must be between 1 and %d.", max)
}

func errDaemonDesiredCount() error {
	return ecs.NewInvalidParameterException("The daemon scheduling strategy does not support a desired count for services.")
}

func errLaunchTypeUnsupported(launchType string) error {
	return ecs.NewInvalidParameterException("Task definition does not support launch_type %s.", launchType)
}

func errReservedTagKey() error {
	return ecs.NewInvalidParameterException("Tag keys beginning with 'aws:' are reserved for system use and cannot be added, edited or deleted.")
}

func errAwsvpcNeedsNetwork() error {
	return ecs.NewInvalidParameterException("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
}

func errTooManyTags(max int) error {
	return ecs.NewInvalidParameterException("A resource can have at most %d tags.", max)
}

func errNoSuchCapacityProvider() error {
	return ecs.NewClientException("The specified capacity provider does not exist.")
}

func errTaskDefNotFound() error { return ecs.NewClientException("TaskDefinition not found.") }

func errTaskDefInactive() error { return ecs.NewClientException("TaskDefinition is inactive") }
