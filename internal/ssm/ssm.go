// Package ssm serves the Parameter Store operations of AWS Systems Manager
// on Berth's endpoint, scoped by account and region like the ECS API:
// parameters and their versions are records in etcd (internal/state), and
// every value is sealed (internal/seal) before it is stored, so etcd holds
// no value in the clear. The other SSM operations answer that Berth does
// not implement them.
package ssm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/berth-project/berth/api/auth"
	api "github.com/berth-project/berth/api/ssm"
	"github.com/berth-project/berth/internal/seal"
	"github.com/berth-project/berth/internal/state"
	"github.com/berth-project/berth/internal/store"
)

// DefaultRegion is the region of an unsigned in-process call.
const DefaultRegion = "us-east-1"

// Service implements the Parameter Store part of api/ssm's Handler.
type Service struct {
	api.UnimplementedHandler
	records *state.State
	keys    *seal.Keyring
	log     *slog.Logger
}

// New serves the parameters kept in records, sealed with keys.
func New(records *state.State, keys *seal.Keyring, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{records: records, keys: keys, log: log}
}

// Dispatch runs one SSM operation (awsjson.Dispatcher).
func (s *Service) Dispatch(ctx context.Context, op string, body []byte) (any, error) {
	return api.Dispatch(ctx, s, op, body)
}

func scopeOf(ctx context.Context) state.Scope {
	if c, ok := auth.CallerFrom(ctx); ok {
		return state.Scope{Account: c.AccountID, Region: c.Region}
	}
	return state.Scope{Account: auth.DefaultAccountID, Region: DefaultRegion}
}

// userOf is the LastModifiedUser SSM records: the caller's identity. Berth
// knows accounts, not IAM users, so it is the account's root.
func userOf(ctx context.Context) string {
	return "arn:aws:iam::" + scopeOf(ctx).Account + ":root"
}

func (s *Service) store() *store.Store { return s.records.Store() }

// parameter reads one parameter from the view; nil when there is none.
func (s *Service) parameter(sc state.Scope, name string) (*store.Object, *state.Parameter, error) {
	o, ok := s.store().Get(sc.ParameterKey(name))
	if !ok {
		return nil, nil, nil
	}
	p, err := state.Decode[state.Parameter](s.records, o)
	if err != nil {
		return nil, nil, err
	}
	return o, p, nil
}

// update commits a planned write; store failures that are not the client's
// fault are the operation's server error.
func (s *Service) update(ctx context.Context, plan func() ([]store.Op, error)) error {
	_, err := s.store().Update(ctx, plan)
	var apiErr *api.Error
	if err != nil && !errors.As(err, &apiErr) {
		return fmt.Errorf("ssm: store: %w", err)
	}
	return err
}

// value opens the value of version v of parameter name.
func (s *Service) value(sc state.Scope, name string, v *state.ParameterVersion) (string, error) {
	plain, err := s.keys.Open(v.Sealed, sc.SealContext(name, v.Version))
	if err != nil {
		// A keyring that lost a key, or a record sealed by a server with
		// another keyring: an operator's problem, logged, not the client's.
		s.log.Error("ssm: a parameter value does not open", "name", name, "version", v.Version, "err", err)
		return "", fmt.Errorf("ssm: open %s version %d: %w", name, v.Version, err)
	}
	return string(plain), nil
}

func asAPIError(err error, target **api.Error) bool { return errors.As(err, target) }
