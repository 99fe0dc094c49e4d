package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newKey(t *testing.T, id string) Key {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	return Key{ID: id, Secret: secret}
}

func TestSealedValuesOpenOnlyWithTheirKeyAndContext(t *testing.T) {
	k, err := New(newKey(t, "a"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal([]byte("hunter2"), "record-1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "hunter2") || !strings.HasPrefix(sealed, "a:") {
		t.Fatalf("sealed value %q", sealed)
	}
	if got, err := k.Open(sealed, "record-1"); err != nil || string(got) != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open(sealed, "record-2"); err == nil {
		t.Fatal("a value opened under another record's context")
	}
	other, _ := New(newKey(t, "a"))
	if _, err := other.Open(sealed, "record-1"); err == nil {
		t.Fatal("a value opened with another key of the same id")
	}
}

func TestARotatedKeyringOpensOldValuesAndSealsWithTheNewKey(t *testing.T) {
	old := newKey(t, "k1")
	before, _ := New(old)
	sealed, _ := before.Seal([]byte("v"), "c")
	after, err := New(newKey(t, "k2"), old)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := after.Open(sealed, "c"); err != nil || string(got) != "v" {
		t.Fatalf("Open after rotation = %q, %v", got, err)
	}
	fresh, _ := after.Seal([]byte("v"), "c")
	if !strings.HasPrefix(fresh, "k2:") {
		t.Fatalf("sealed with %q, want k2", fresh)
	}
	if _, err := before.Open(fresh, "c"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old keyring opening a new value: %v", err)
	}
}

func TestLoadOrCreateMakesAPrivateKeyFileOnceAndKeepsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seal.keys")
	first, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", info.Mode().Perm())
	}
	sealed, _ := first.Seal([]byte("v"), "c")
	second, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := second.Open(sealed, "c"); err != nil || !bytes.Equal(got, []byte("v")) {
		t.Fatalf("reloaded keyring: %q, %v", got, err)
	}
}

func TestParseReadsAKeyringFromOneEnvironmentVariable(t *testing.T) {
	a, b := newKey(t, "new"), newKey(t, "old")
	k, err := Parse("new " + base64.StdEncoding.EncodeToString(a.Secret) + ",old " + base64.StdEncoding.EncodeToString(b.Secret))
	if err != nil {
		t.Fatal(err)
	}
	if sealed, _ := k.Seal(nil, ""); !strings.HasPrefix(sealed, "new:") {
		t.Fatalf("sealed with %q", sealed)
	}
	for _, bad := range []string{"", "k1", "k1 !!", "k1 " + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
