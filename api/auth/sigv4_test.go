package auth_test

import (
	"context"
	"crypto/hmac"
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

// declaredHashRequest is an API request that declares (and signs) an
// X-Amz-Content-Sha256 of hash, signed over that hash.
func declaredHashRequest(t *testing.T, body, hash string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8450/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	r.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(context.Background(), devCreds(), r, hash, "ecs", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	return r
}

// presignedPost is a DeleteCluster POST to a URL the SDK presigned over
// payloadHash, with X-Amz-Target among the signed headers if withTarget.
func presignedPost(t *testing.T, body, payloadHash string, withTarget bool) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8450/", strings.NewReader(body))
	if withTarget {
		r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
	}
	url, _, err := v4.NewSigner().PresignHTTP(context.Background(), devCreds(), r, payloadHash, "ecs", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	pr := httptest.NewRequest(http.MethodPost, url, strings.NewReader(body))
	pr.Header.Set("Content-Type", "application/x-amz-json-1.1")
	pr.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
	return pr
}

// hostlessRequest is an API request with a correct signature over
// x-amz-date and x-amz-target only, computed by hand (the SDK always signs host).
func hostlessRequest(t *testing.T, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8450/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	date := now.Format("20060102T150405Z")
	r.Header.Set("X-Amz-Date", date)
	canonical := "POST\n/\n\nx-amz-date:" + date + "\nx-amz-target:" + r.Header.Get("X-Amz-Target") + "\n\nx-amz-date;x-amz-target\n" + hashOf([]byte(body))
	scope := now.Format("20060102") + "/us-east-1/ecs/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + date + "\n" + scope + "\n" + hashOf([]byte(canonical))
	key := []byte("AWS4" + auth.DefaultSecretAccessKey)
	for _, s := range []string{now.Format("20060102"), "us-east-1", "ecs", "aws4_request"} {
		key = mac(key, s)
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+auth.DefaultAccessKeyID+"/"+scope+", SignedHeaders=x-amz-date;x-amz-target, Signature="+hex.EncodeToString(mac(key, toSign)))
	return r
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func wantCode(t *testing.T, err error, code, msgPrefix string) {
	t.Helper()
	status := http.StatusForbidden
	if code == "IncompleteSignatureException" {
		status = http.StatusBadRequest // as AWS sends it
	}
	var e *ecs.Error
	if !errors.As(err, &e) || e.Code != code || e.Status != status {
		if e != nil {
			t.Fatalf("want %s (%d), got %v (%d)", code, status, err, e.Status)
		}
		t.Fatalf("want %s (%d), got %v", code, status, err)
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

	t.Run("a declared X-Amz-Content-Sha256 that is the body's is accepted", func(t *testing.T) {
		r := declaredHashRequest(t, body, hashOf([]byte(body)))
		if _, err := k.Verify(r, []byte(body), now); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a presigned POST that signs its target and its body is accepted", func(t *testing.T) {
		pr := presignedPost(t, body, hashOf([]byte(body)), true)
		if _, err := k.Verify(pr, []byte(body), now); err != nil {
			t.Fatal(err)
		}
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
		{"a signed request replayed with another body under its declared X-Amz-Content-Sha256", func() (*http.Request, []byte) {
			return declaredHashRequest(t, body, hashOf([]byte(body))), []byte(`{"cluster":"prod"}`)
		}, now, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match"},
		{"a header signature over UNSIGNED-PAYLOAD", func() (*http.Request, []byte) {
			return declaredHashRequest(t, body, "UNSIGNED-PAYLOAD"), []byte(`{"cluster":"prod"}`)
		}, now, "InvalidSignatureException", "UNSIGNED-PAYLOAD is not accepted"},
		{"a presigned URL signing only host, used for an API call", func() (*http.Request, []byte) {
			return presignedPost(t, "", "UNSIGNED-PAYLOAD", false), []byte(`{"cluster":"prod"}`)
		}, now, "IncompleteSignatureException", "'X-Amz-Target' must be a 'SignedHeader' of a presigned request."},
		{"a presigned URL signing only host with the body's hash, used for an API call", func() (*http.Request, []byte) {
			return presignedPost(t, body, hashOf([]byte(body)), false), []byte(body)
		}, now, "IncompleteSignatureException", "'X-Amz-Target' must be a 'SignedHeader' of a presigned request."},
		{"a presigned POST over UNSIGNED-PAYLOAD replayed with another body", func() (*http.Request, []byte) {
			return presignedPost(t, body, "UNSIGNED-PAYLOAD", true), []byte(`{"cluster":"prod"}`)
		}, now, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"a presigned POST replayed with another body", func() (*http.Request, []byte) {
			return presignedPost(t, body, hashOf([]byte(body)), true), []byte(`{"cluster":"prod"}`)
		}, now, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"a presigned POST sent with another target than it signed", func() (*http.Request, []byte) {
			pr := presignedPost(t, body, hashOf([]byte(body)), true)
			pr.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteService")
			return pr, []byte(body)
		}, now, "IncompleteSignatureException", "'X-Amz-Target' must be a 'SignedHeader' of a presigned request."},
		{"a header signature that leaves X-Amz-Target out, so any operation could be sent with it", func() (*http.Request, []byte) {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8450/", strings.NewReader(body))
			if err := v4.NewSigner().SignHTTP(context.Background(), devCreds(), r, hashOf([]byte(body)), "ecs", "us-east-1", now); err != nil {
				t.Fatal(err)
			}
			r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
			return r, []byte(body)
		}, now, "IncompleteSignatureException", "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."},
		{"a correct signature whose SignedHeaders lack host", func() (*http.Request, []byte) {
			return hostlessRequest(t, body), []byte(body)
		}, now, "IncompleteSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
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

func TestVerifyForAnotherServiceWantsThatServiceInTheScope(t *testing.T) {
	k := keyring(t)
	body := `{"Name":"p"}`
	t.Run("a request signed for ssm is accepted as ssm", func(t *testing.T) {
		r := apiRequest(t, devCreds(), body, "us-east-1", "ssm", now)
		c, err := k.VerifyFor(r, []byte(body), now, "ssm")
		if err != nil {
			t.Fatal(err)
		}
		if c.Service != "ssm" || c.AccountID != auth.DefaultAccountID {
			t.Fatalf("caller %+v", c)
		}
	})
	t.Run("a request signed for ecs is refused as ssm, and one for ssm as ecs", func(t *testing.T) {
		r := apiRequest(t, devCreds(), body, "us-east-1", "ecs", now)
		_, err := k.VerifyFor(r, []byte(body), now, "ssm")
		wantCode(t, err, "InvalidSignatureException", "Credential should be scoped to correct service: 'ssm'.")
		r = apiRequest(t, devCreds(), body, "us-east-1", "ssm", now)
		_, err = k.Verify(r, []byte(body), now)
		wantCode(t, err, "InvalidSignatureException", "Credential should be scoped to correct service: 'ecs'.")
	})
}
