// Package auth decides who is calling: access keys mapped to accounts, and
// AWS Signature Version 4 verification of every request, as the AWS SDKs,
// the AWS CLI and the stock ECS agent sign them.
package auth

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
)

// The development key pair, accepted when no other is configured. It is
// documented in the README: anyone can use it, so `berth dev` and the default
// `berth server` listen on loopback only.
const (
	DefaultAccessKeyID     = "AKIABERTHDEVLOCAL000"
	DefaultSecretAccessKey = "berth-dev-secret-access-key-do-not-use"
	DefaultAccountID       = "123456789012"
)

// Credential is one access key and the account it acts for.
type Credential struct {
	AccessKeyID, SecretAccessKey, AccountID string
}

// Keyring holds the access keys the server accepts. It never changes after
// it is built, so lookups need no lock; signing keys are cached beside it.
type Keyring struct {
	keys        map[string]Credential
	signingKeys sync.Map // signingKeyID -> []byte
	cached      int64
	cacheMu     sync.Mutex
}

var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

// NewKeyring builds a keyring; duplicate access key ids are an error.
func NewKeyring(creds ...Credential) (*Keyring, error) {
	k := &Keyring{keys: map[string]Credential{}}
	for _, c := range creds {
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return nil, fmt.Errorf("access key %q: key id and secret are both required", c.AccessKeyID)
		}
		if !accountPattern.MatchString(c.AccountID) {
			return nil, fmt.Errorf("access key %s: account id %q is not 12 digits", c.AccessKeyID, c.AccountID)
		}
		if _, dup := k.keys[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("access key %s is configured twice", c.AccessKeyID)
		}
		k.keys[c.AccessKeyID] = c
	}
	return k, nil
}

// With returns a keyring with the keys of k and creds.
func (k *Keyring) With(creds ...Credential) (*Keyring, error) {
	all := make([]Credential, 0, len(k.keys)+len(creds))
	for _, c := range k.keys {
		all = append(all, c)
	}
	return NewKeyring(append(all, creds...)...)
}

// KeyringFromEnv holds one key pair: BERTH_ACCESS_KEY_ID,
// BERTH_SECRET_ACCESS_KEY and BERTH_ACCOUNT_ID, each defaulting to the
// development values.
func KeyringFromEnv(getenv func(string) string) (*Keyring, error) {
	get := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	return NewKeyring(Credential{
		AccessKeyID:     get("BERTH_ACCESS_KEY_ID", DefaultAccessKeyID),
		SecretAccessKey: get("BERTH_SECRET_ACCESS_KEY", DefaultSecretAccessKey),
		AccountID:       get("BERTH_ACCOUNT_ID", DefaultAccountID),
	})
}

// LoadCredentialsFile reads keys in the AWS shared-credentials format, with
// one more key per section, account_id:
//
//	[alice]
//	aws_access_key_id = AKIA...
//	aws_secret_access_key = ...
//	account_id = 111122223333
func LoadCredentialsFile(path string) ([]Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	var creds []Credential
	var cur *Credential
	section := ""
	finish := func() error {
		if cur == nil {
			return nil
		}
		if cur.AccessKeyID == "" || cur.SecretAccessKey == "" || cur.AccountID == "" {
			return fmt.Errorf("%s: section [%s] needs aws_access_key_id, aws_secret_access_key and account_id", path, section)
		}
		creds = append(creds, *cur)
		return nil
	}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, ";") {
			continue
		}
		if strings.HasPrefix(text, "[") && strings.HasSuffix(text, "]") {
			if err := finish(); err != nil {
				return nil, err
			}
			section = strings.TrimSpace(text[1 : len(text)-1])
			cur = &Credential{}
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok || cur == nil {
			return nil, fmt.Errorf("%s:%d: expected [section] or key = value", path, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "aws_access_key_id":
			cur.AccessKeyID = value
		case "aws_secret_access_key":
			cur.SecretAccessKey = value
		case "account_id":
			if !accountPattern.MatchString(value) {
				return nil, fmt.Errorf("%s:%d: account_id %q is not 12 digits", path, line, value)
			}
			cur.AccountID = value
		default:
			// Other keys of the AWS format (region, aws_session_token, ...) are
			// allowed so one file can serve both Berth and a client.
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return creds, nil
}

// Caller is who sent a verified request, and where it acts.
type Caller struct {
	AccessKeyID, AccountID, Region, Service string
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller a request was verified as.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
