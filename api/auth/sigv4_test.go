package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/api/ecs"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func keyring(t *testing.T) *auth.Keyring {
	k, err := auth.KeyringFromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func devCreds() aws.Credentials {
	return aws.Credentials{AccessKeyID: auth.DefaultAccessKeyID, SecretAccessKey: auth.DefaultSecretAccessKey}
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// apiRequest is a request as the ECS SDK sends it, signed at signedAt.
func apiRequest(t *testing.T, creds aws.Credentials, body string, region, svc string, signedAt time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8450/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hashOf([]byte(body)), svc, region, signedAt); err != nil {
		t.Fatal(err)
	}
	return r
}

func wantCode(t *testing.T, err error, code, msgPrefix string) {
	t.Helper()
	var e *ecs.Error
	if !errors.As(err, &e) || e.Code != code || e.Status != http.StatusForbidden {
		t.Fatalf("want %s (403), got %v", code, err)
	}
	if !strings.HasPrefix(e.Message, msgPrefix) {
		t.Fatalf("message %q does not start with %q", e.Message, msgPrefix)
	}
}

func TestVerify(t *testing.T) {
	k := keyring(t)
	body := `{"maxResults":10}`

	t.Run("a request signed by the SDK's signer is accepted with its account and region", func(t *testing.T) {
		r := apiRequest(t, devCreds(), body, "eu-west-1", "ecs", now)
		c, err := k.Verify(r, []byte(body), now)
		if err != nil {
			t.Fatal(err)
		}
		if c.AccountID != auth.DefaultAccountID || c.Region != "eu-west-1" || c.AccessKeyID != auth.DefaultAccessKeyID {
			t.Fatalf("caller %+v", c)
		}
	})

	t.Run("a session token header signed with the request is accepted", func(t *testing.T) {
		creds := devCreds()
		creds.SessionToken = "token"
		r := apiRequest(t, creds, body, "us-east-1", "ecs", now)
		if _, err := k.Verify(r, []byte(body), now); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a websocket GET with a query string, signed like the ECS agent's, is accepted", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8450/acs/ws?agentHash=a8b3e7d3&clusterArn=default&containerInstanceArn=arn%3Aaws%3Aecs%3Aus-east-1%3A123456789012%3Acontainer-instance%2Fdefault%2Fabc&seqNum=1&dockerVersion=DockerVersion%3A+20.10.24%2Bdfsg1", nil)
		if err := v4.NewSigner().SignHTTP(context.Background(), devCreds(), r, hashOf(nil), "ecs", "us-east-1", now); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Verify(r, nil, now); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a presigned URL is accepted until it expires", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8450/tcs/ws?cluster=default", nil)
		q := r.URL.Query()
		q.Set("X-Amz-Expires", "60")
		r.URL.RawQuery = q.Encode()
		url, _, err := v4.NewSigner().PresignHTTP(context.Background(), devCreds(), r, hashOf(nil), "ecs", "us-east-1", now)
		if err != nil {
			t.Fatal(err)
		}
		pr := httptest.NewRequest(http.MethodGet, url, nil)
		if _, err := k.Verify(pr, nil, now.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		_, err = k.Verify(pr, nil, now.Add(2*time.Minute))
		wantCode(t, err, "InvalidSignatureException", "Signature expired")
	})

	failures := []struct {
		name    string
		request func() (*http.Request, []byte)
		at      time.Time
		code    string
		msg     string
	}{
		{"an unsigned request", func() (*http.Request, []byte) {
			return httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8450/", strings.NewReader(body)), []byte(body)
		}, now, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"a changed body", func() (*http.Request, []byte) {
			return apiRequest(t, devCreds(), body, "us-east-1", "ecs", now), []byte(`{"maxResults":11}`)
		}, now, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"a changed signed header", func() (*http.Request, []byte) {
			r := apiRequest(t, devCreds(), body, "us-east-1", "ecs", now)
			r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
			return r, []byte(body)
		}, now, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"a wrong secret", func() (*http.Request, []byte) {
			c := devCreds()
			c.SecretAccessKey = "guess"
			return apiRequest(t, c, body, "us-east-1", "ecs", now), []byte(body)
		}, now, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"an unknown access key", func() (*http.Request, []byte) {
			return apiRequest(t, aws.Credentials{AccessKeyID: "AKIANOBODY", SecretAccessKey: "x"}, body, "us-east-1", "ecs", now), []byte(body)
		}, now, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"a clock ten minutes behind", func() (*http.Request, []byte) {
			return apiRequest(t, devCreds(), body, "us-east-1", "ecs", now.Add(-10*time.Minute)), []byte(body)
		}, now, "InvalidSignatureException", "Signature expired: 20261124T115000Z is now earlier than 20261124T115500Z (20261124T120000Z - 5 min.)"},
		{"a clock ten minutes ahead", func() (*http.Request, []byte) {
			return apiRequest(t, devCreds(), body, "us-east-1", "ecs", now.Add(10*time.Minute)), []byte(body)
		}, now, "InvalidSignatureException", "Signature not yet current: 20261124T121000Z is still later than 20261124T120500Z (20261124T120000Z + 5 min.)"},
		{"a signature for another service", func() (*http.Request, []byte) {
			return apiRequest(t, devCreds(), body, "us-east-1", "s3", now), []byte(body)
		}, now, "InvalidSignatureException", "Credential should be scoped to correct service: 'ecs'."},
		{"an Authorization header without a signature", func() (*http.Request, []byte) {
			r := apiRequest(t, devCreds(), body, "us-east-1", "ecs", now)
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
			return r, []byte(body)
		}, now, "IncompleteSignatureException", "Authorization header requires 'Signature' parameter."},
	}
	for _, tc := range failures {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			r, b := tc.request()
			_, err := k.Verify(r, b, tc.at)
			wantCode(t, err, tc.code, tc.msg)
		})
	}
}

func TestCredentialsFile(t *testing.T) {
	t.Run("sections map keys to accounts", func(t *testing.T) {
		creds, err := auth.LoadCredentialsFile("testdata/credentials")
		if err != nil {
			t.Fatal(err)
		}
		if len(creds) != 2 || creds[0].AccountID != "111122223333" || creds[1].AccessKeyID != "AKIABOB0000000000001" {
			t.Fatalf("%+v", creds)
		}
		k, err := keyring(t).With(creds...)
		if err != nil {
			t.Fatal(err)
		}
		r := apiRequest(t, aws.Credentials{AccessKeyID: "AKIABOB0000000000001", SecretAccessKey: "bob-secret"}, "{}", "us-east-1", "ecs", now)
		c, err := k.Verify(r, []byte("{}"), now)
		if err != nil || c.AccountID != "444455556666" {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("an account id that is not 12 digits is refused with its line", func(t *testing.T) {
		_, err := auth.LoadCredentialsFile("testdata/credentials-bad-account")
		if err == nil || !strings.Contains(err.Error(), "credentials-bad-account:4") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a key configured twice is refused", func(t *testing.T) {
		c := auth.Credential{AccessKeyID: "A", SecretAccessKey: "s", AccountID: "111122223333"}
		if _, err := auth.NewKeyring(c, c); err == nil {
			t.Fatal("duplicate accepted")
		}
	})
}
