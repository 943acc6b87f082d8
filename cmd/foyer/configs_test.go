package main

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// exampleTicketSecret stands in for the FOYER_TICKET_SECRET that the Redis
// examples expect from the environment instead of holding a secret.
const exampleTicketSecret = "example-ticket-secret-for-tests-only-0123456789"

// TestConfigsExamples loads every YAML file under configs/ as foyer serve
// would before opening a port: decode, environment, defaults, validation,
// the key files and the ticket signer. The examples name files relative to
// the repository root, where the documentation tells users to run them.
func TestConfigsExamples(t *testing.T) {
	t.Chdir("../..")
	env := map[string]string{"FOYER_TICKET_SECRET": exampleTicketSecret}
	getenv := func(name string) string { return env[name] }

	var files []string
	err := filepath.WalkDir("configs", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "scenarios" {
			return filepath.SkipDir // load-test scenarios, checked by TestScenarios
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking configs/: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml files found under configs/")
	}
	for _, file := range files {
		t.Run(filepath.ToSlash(file), func(t *testing.T) {
			c, err := loadConfig(file, getenv)
			if err != nil {
				t.Fatalf("%s: loadConfig: %v", file, err)
			}
			keys, err := loadKeys(c)
			if err != nil {
				t.Fatalf("%s: loadKeys: %v", file, err)
			}
			if _, _, err := loadTicketSigner(c); err != nil {
				t.Fatalf("%s: loadTicketSigner: %v", file, err)
			}
			// Proxies sharing a Redis store must share the signing key:
			// an example for several proxies that generated its key per
			// process would teach a broken deployment.
			if c.Store.Kind == "redis" && keys.ephemeral {
				t.Errorf("%s: store.kind is redis but tokens.signing_key is empty", file)
			}
		})
	}
}
