package daemon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/seal"
)

// SealKeysEnv holds the keyring that seals values at rest (SSM parameters),
// for servers that share an external etcd: every one of them must seal and
// open with the same keys. Its form is seal.Parse's: "<id> <base64 key>"
// entries separated by commas, the first one sealing. It comes first, then
// Config.SealKeysFile, then the data directory's file.
const SealKeysEnv = "BERTH_SEAL_KEYS"

// SealKeysFile is the keyring's file in the data directory when
// BERTH_SEAL_KEYS is not set: created with one new key, mode 0600, at
// first start.
const SealKeysFile = "seal.keys"

func loadSealKeys(cfg Config) (*seal.Keyring, error) {
	if text := cfg.Getenv(SealKeysEnv); text != "" {
		k, err := seal.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", SealKeysEnv, err)
		}
		return k, nil
	}
	if cfg.SealKeysFile != "" {
		// A keyring given by name is shared with other servers: it must
		// exist, or each server would seal with a key of its own.
		k, err := seal.Load(cfg.SealKeysFile)
		if err != nil {
			return nil, fmt.Errorf("--seal-keys-file: %w", err)
		}
		return k, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	k, err := seal.LoadOrCreate(filepath.Join(cfg.DataDir, SealKeysFile))
	if err != nil {
		return nil, fmt.Errorf("the keys of values at rest: %w", err)
	}
	return k, nil
}
