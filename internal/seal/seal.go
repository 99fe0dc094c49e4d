// Package seal encrypts values at rest (SSM parameters today, Secrets
// Manager's secrets next) with AES-256-GCM under keys Berth keeps itself:
// etcd only ever holds ciphertext.
//
// Keys live in a keyring: each key has an id, and every sealed value names
// the id of the key that sealed it, so a keyring can be rotated: a new key is
// put first (new values are sealed with it) and the older ones stay to open
// what they sealed until those values are rewritten.
package seal

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

// ErrUnknownKey is returned by Open for a value sealed with a key the
// keyring does not hold (a rotated-out key, or another server's keyring).
var ErrUnknownKey = errors.New("seal: the value was sealed with a key this keyring does not hold")

// Keyring seals with its first key and opens with any of its keys.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// Key is one key of a keyring: its id, which sealed values carry, and its
// 32 bytes.
type Key struct {
	ID     string
	Secret []byte
}

// New makes a keyring of keys; the first one seals.
func New(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: a keyring needs at least one key")
	}
	k := &Keyring{current: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, key := range keys {
		if key.ID == "" || strings.ContainsAny(key.ID, ": \t\n") {
			return nil, fmt.Errorf("seal: key id %q: ids are non-empty, without ':' or spaces", key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("seal: key %q has %d bytes, AES-256 needs %d", key.ID, len(key.Secret), KeySize)
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("seal: key id %q given twice", key.ID)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[key.ID] = aead
	}
	return k, nil
}

// Seal encrypts plaintext. context is bound to the result without being
// stored in it (GCM's additional data): a sealed value opens only with the
// same context, so one record's ciphertext cannot be pasted into another.
// The result is "<key id>:<base64 of nonce and ciphertext>".
func (k *Keyring) Seal(plaintext []byte, context string) (string, error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, plaintext, []byte(context))
	return k.current + ":" + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal returned for the same context.
func (k *Keyring) Open(sealed, context string) ([]byte, error) {
	id, data, ok := strings.Cut(sealed, ":")
	if !ok {
		return nil, errors.New("seal: not a sealed value")
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w (key %q)", ErrUnknownKey, id)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(raw) < aead.NonceSize() {
		return nil, errors.New("seal: malformed sealed value")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("seal: value does not open with key %q: %w", id, err)
	}
	return plain, nil
}

// Parse reads a keyring from text: one key a line, "<id> <base64 key>",
// the first line the key that seals; blank lines and # comments are
// skipped. Commas may separate keys instead of newlines, so that a keyring
// fits in one environment variable.
func Parse(text string) (*Keyring, error) {
	var keys []Key
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(text, ",", "\n")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, b64, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("seal: line %q: want \"<id> <base64 key>\"", line)
		}
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("seal: key %q: %v", id, err)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return New(keys...)
}

// Load reads the keyring file at path, which must exist.
func Load(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(string(b))
}

// LoadOrCreate reads the keyring file at path, creating it (mode 0600, one
// new random key) when there is none: the first start of a server with a
// data directory of its own.
func LoadOrCreate(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		secret := make([]byte, KeySize)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
		text := "# Berth's keys for values encrypted at rest (docs/compatibility.md). The first line seals.\n" +
			"k1 " + base64.StdEncoding.EncodeToString(secret) + "\n"
		// Written aside and linked into place, so that a server starting at
		// the same moment never reads half a file, and never replaces a key
		// another one already sealed with.
		tmp, err := os.CreateTemp(filepath.Dir(path), ".seal-*")
		if err != nil {
			return nil, err
		}
		defer os.Remove(tmp.Name())
		if err := tmp.Chmod(0o600); err != nil {
			tmp.Close()
			return nil, err
		}
		if _, err := tmp.WriteString(text); err != nil {
			tmp.Close()
			return nil, err
		}
		if err := tmp.Close(); err != nil {
			return nil, err
		}
		if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
			return LoadOrCreate(path)
		} else if err != nil {
			return nil, err
		}
		return Parse(text)
	}
	if err != nil {
		return nil, err
	}
	return Parse(string(b))
}
