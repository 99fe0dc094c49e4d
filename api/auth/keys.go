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

// KeyOf answers a key of the account (the first by key id, so always the
// same one), for a process that acts for the account in-process, as the
// emulator's simulated agents do.
func (k *Keyring) KeyOf(account string) (Credential, bool) {
	var best Credential
	found := false
	for _, c := range k.keys {
		if c.AccountID == account && (!found || c.AccessKeyID < best.AccessKeyID) {
			best, found = c, true
		}
	}
	return best, found
}

// KeyringFromEnv holds one key pair, EnvCredential's.
func KeyringFromEnv(getenv func(string) string) (*Keyring, error) {
	return NewKeyring(EnvCredential(getenv))
}

// EnvCredential is the key pair a server is configured with in its
// environment: BERTH_ACCESS_KEY_ID, BERTH_SECRET_ACCESS_KEY and
// BERTH_ACCOUNT_ID, each defaulting to the development values. `berth dev`
// signs its own calls with it, so they are accepted whatever it is.
func EnvCredential(getenv func(string) string) Credential {
	get := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	return Credential{
		AccessKeyID:     get("BERTH_ACCESS_KEY_ID", DefaultAccessKeyID),
		SecretAccessKey: get("BERTH_SECRET_ACCESS_KEY", DefaultSecretAccessKey),
		AccountID:       get("BERTH_ACCOUNT_ID", DefaultAccountID),
	}
}

// LoadCredentialsFile reads keys in the AWS shared-credentials format, with
// one more key per section, account_id:
//
//	[alice]
//	aws_access_key_id = AKIA...
//	aws_secret_access_key = ...
//	account_id = 111122223333
func LoadCredentialsFile(path string) ([]Credential, error) {
	sections, err := readSharedCredentials(path)
	if err != nil {
		return nil, err
	}
	var creds []Credential
	for _, sec := range sections {
		c := Credential{AccessKeyID: sec.values["aws_access_key_id"], SecretAccessKey: sec.values["aws_secret_access_key"], AccountID: sec.values["account_id"]}
		if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.AccountID == "" {
			return nil, fmt.Errorf("%s: section [%s] needs aws_access_key_id, aws_secret_access_key and account_id", path, sec.name)
		}
		if !accountPattern.MatchString(c.AccountID) {
			return nil, fmt.Errorf("%s:%d: account_id %q is not 12 digits", path, sec.accountLine, c.AccountID)
		}
		creds = append(creds, c)
	}
	return creds, nil
}

// Profile is one profile of an AWS shared credentials file (the client's
// side, as the AWS CLI and SDKs read ~/.aws/credentials).
type Profile struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// LoadProfile reads the named profile of an AWS shared credentials file.
func LoadProfile(path, name string) (Profile, error) {
	sections, err := readSharedCredentials(path)
	if err != nil {
		return Profile{}, err
	}
	for _, sec := range sections {
		if sec.name != name {
			continue
		}
		p := Profile{AccessKeyID: sec.values["aws_access_key_id"], SecretAccessKey: sec.values["aws_secret_access_key"], SessionToken: sec.values["aws_session_token"]}
		if p.AccessKeyID == "" || p.SecretAccessKey == "" {
			return Profile{}, fmt.Errorf("%s: profile [%s] needs aws_access_key_id and aws_secret_access_key", path, name)
		}
		return p, nil
	}
	return Profile{}, fmt.Errorf("%s: no profile [%s]", path, name)
}

// credentialsSection is one [section] of a shared credentials file.
type credentialsSection struct {
	name        string
	values      map[string]string
	accountLine int // where account_id was set, for messages
}

// readSharedCredentials reads the sections of a file in the AWS
// shared-credentials (INI) format. Keys Berth does not use (region, ...)
// are kept but ignored, so one file can serve both Berth and a client.
func readSharedCredentials(path string) ([]credentialsSection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	var out []credentialsSection
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, ";") {
			continue
		}
		if strings.HasPrefix(text, "[") && strings.HasSuffix(text, "]") {
			out = append(out, credentialsSection{name: strings.TrimSpace(text[1 : len(text)-1]), values: map[string]string{}})
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok || len(out) == 0 {
			return nil, fmt.Errorf("%s:%d: expected [section] or key = value", path, line)
		}
		cur := &out[len(out)-1]
		key = strings.TrimSpace(key)
		cur.values[key] = strings.TrimSpace(value)
		if key == "account_id" {
			cur.accountLine = line
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
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
