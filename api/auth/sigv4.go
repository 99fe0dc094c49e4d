package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/api/ecs"
)

const (
	algorithm    = "AWS4-HMAC-SHA256"
	amzDate      = "20060102T150405Z"
	ecsService   = "ecs"
	maxClockSkew = 5 * time.Minute
	unsigned     = "UNSIGNED-PAYLOAD"
)

// signature is what a request claims: from the Authorization header or from
// a presigned URL's query.
type signature struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          string
	time                               time.Time
	presigned                          bool
	expires                            time.Duration
}

// Verify checks r's SigV4 signature over its headers and body, scoped to
// the ECS service, and returns who signed it. Errors are the ECS API errors
// AWS answers.
func (k *Keyring) Verify(r *http.Request, body []byte, now time.Time) (Caller, error) {
	return k.VerifyFor(r, body, now, ecsService)
}

// VerifyFor is Verify for a request to another service on the same
// endpoint: its credential scope must name that service ("ssm"), as AWS
// refuses a signature scoped to one service on another's endpoint.
func (k *Keyring) VerifyFor(r *http.Request, body []byte, now time.Time, service string) (Caller, error) {
	sig, err := parseSignature(r)
	if err != nil {
		return Caller{}, err
	}
	// The operation must be signed: a signature that leaves X-Amz-Target out
	// would be good for any JSON 1.1 operation with the same body (a
	// presigned URL that signs only host, for any body too). The agent
	// websockets, GETs without a target, are signed in their headers.
	if sig.presigned && (r.Method != http.MethodGet || r.Header.Get("X-Amz-Target") != "") && !targetSigned(r, sig) {
		return Caller{}, incomplete("'X-Amz-Target' must be a 'SignedHeader' of a presigned request.")
	}
	if !sig.presigned && r.Header.Get("X-Amz-Target") != "" && !slices.Contains(sig.signedHeaders, "x-amz-target") {
		return Caller{}, incomplete("'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
	}
	cred, ok := k.keys[sig.accessKeyID]
	if !ok {
		return Caller{}, ecs.NewProtocolError(ecs.CodeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	if sig.service != service {
		return Caller{}, ecs.NewProtocolError(ecs.CodeInvalidSignature, "Credential should be scoped to correct service: '%s'. ", service)
	}
	if d := sig.time.Format("20060102"); d != sig.date {
		return Caller{}, ecs.NewProtocolError(ecs.CodeInvalidSignature,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", sig.date, d, sig.time.Format(amzDate))
	}
	if err := checkTime(sig, now); err != nil {
		return Caller{}, err
	}

	payload, err := payloadHash(r, body, sig)
	if err != nil {
		return Caller{}, err
	}
	key := k.signingKey(cred, sig.date, sig.region, service)
	canonical := canonicalRequest(r, sig, payload)
	sum := sha256.Sum256([]byte(canonical))
	toSign := algorithm + "\n" + sig.time.Format(amzDate) + "\n" + sig.date + "/" + sig.region + "/" + sig.service + "/aws4_request\n" + hex.EncodeToString(sum[:])
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(sig.signature)) {
		return Caller{}, signatureMismatch()
	}
	return Caller{AccessKeyID: cred.AccessKeyID, AccountID: cred.AccountID, Region: sig.region, Service: sig.service}, nil
}

// targetSigned reports whether a presigned request's X-Amz-Target is covered
// by its signature: a signed header, or, as the SDK's presigner hoists X-Amz-*
// headers, a (signed) query parameter equal to the header the handler reads.
func targetSigned(r *http.Request, sig signature) bool {
	if slices.Contains(sig.signedHeaders, "x-amz-target") {
		return true
	}
	q := r.URL.Query()["X-Amz-Target"]
	return len(q) == 1 && q[0] != "" && q[0] == r.Header.Get("X-Amz-Target")
}

func signatureMismatch() error {
	return ecs.NewProtocolError(ecs.CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

// incomplete is IncompleteSignatureException, which AWS sends with 400 Bad
// Request (the other signature errors go with 403; ecs.NewProtocolError).
func incomplete(format string, args ...any) error {
	return ecs.NewProtocolError(ecs.CodeIncompleteSignature, format, args...)
}

// payloadHash is the hash the canonical request must carry: always the
// body's own. A declared X-Amz-Content-Sha256 is checked against it, never
// trusted: were it, a captured request could be replayed with another body.
// UNSIGNED-PAYLOAD is refused, in a header or in a presigned URL alike.
func payloadHash(r *http.Request, body []byte, sig signature) (string, error) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	declared := r.Header.Values("X-Amz-Content-Sha256")
	if sig.presigned {
		declared = append(declared, r.URL.Query()["X-Amz-Content-Sha256"]...)
	}
	for _, d := range declared {
		if d == unsigned {
			return "", ecs.NewProtocolError(ecs.CodeInvalidSignature, "UNSIGNED-PAYLOAD is not accepted: the payload must be signed with its SHA-256.")
		}
		if !strings.EqualFold(strings.TrimSpace(d), actual) {
			return "", ecs.NewProtocolError(ecs.CodeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	return actual, nil
}

func checkTime(sig signature, now time.Time) error {
	if sig.presigned {
		if now.After(sig.time.Add(sig.expires)) {
			return ecs.NewProtocolError(ecs.CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %d sec.)",
				sig.time.Add(sig.expires).UTC().Format(amzDate), now.UTC().Format(amzDate), now.UTC().Format(amzDate), int(sig.expires.Seconds()))
		}
	}
	if sig.time.Before(now.Add(-maxClockSkew)) && !sig.presigned {
		return ecs.NewProtocolError(ecs.CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - 5 min.)",
			sig.time.Format(amzDate), now.Add(-maxClockSkew).UTC().Format(amzDate), now.UTC().Format(amzDate))
	}
	if sig.time.After(now.Add(maxClockSkew)) {
		return ecs.NewProtocolError(ecs.CodeInvalidSignature, "Signature not yet current: %s is still later than %s (%s + 5 min.)",
			sig.time.Format(amzDate), now.Add(maxClockSkew).UTC().Format(amzDate), now.UTC().Format(amzDate))
	}
	return nil
}

func parseSignature(r *http.Request) (signature, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return parseAuthorizationHeader(r, h)
	}
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != "" {
		return parsePresigned(q)
	}
	return signature{}, ecs.NewProtocolError(ecs.CodeMissingAuthToken, "Missing Authentication Token")
}

func parseAuthorizationHeader(r *http.Request, h string) (signature, error) {
	alg, rest, _ := strings.Cut(h, " ")
	if alg != algorithm {
		return signature{}, incomplete("Unsupported AWS 'algorithm': '%s'.", alg)
	}
	params := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			params[k] = v
		}
	}
	var missing []string
	for _, p := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[p] == "" {
			missing = append(missing, "Authorization header requires '"+p+"' parameter.")
		}
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	if date == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return signature{}, incomplete("%s Authorization=%s", strings.Join(missing, " "), h)
	}
	return buildSignature(params["Credential"], params["SignedHeaders"], params["Signature"], date)
}

func parsePresigned(q url.Values) (signature, error) {
	if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
		return signature{}, incomplete("Unsupported AWS 'algorithm': '%s'.", alg)
	}
	for _, p := range []string{"X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if q.Get(p) == "" {
			return signature{}, incomplete("AWS query-string parameters must include '%s'.", p)
		}
	}
	sig, err := buildSignature(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"), q.Get("X-Amz-Date"))
	if err != nil {
		return sig, err
	}
	sig.presigned = true
	sig.expires = 15 * time.Minute
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || n > 604800 {
			return signature{}, incomplete("X-Amz-Expires must be a number of seconds from 1 to 604800.")
		}
		sig.expires = time.Duration(n) * time.Second
	}
	return sig, nil
}

func buildSignature(credential, signedHeaders, sig, date string) (signature, error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || parts[2] == "" {
		return signature{}, incomplete(
			"Credential should be scoped to a valid region. Credential=%s", credential)
	}
	headers := strings.Split(strings.ToLower(signedHeaders), ";")
	if !slices.Contains(headers, "host") {
		// As AWS: a signature must bind the request to its endpoint.
		return signature{}, incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	t, err := time.Parse(amzDate, date)
	if err != nil {
		if t, err = http.ParseTime(date); err != nil {
			return signature{}, incomplete("Date must be in ISO-8601 'basic format'. Got '%s'.", date)
		}
	}
	return signature{
		accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3],
		signedHeaders: headers,
		signature:     sig,
		time:          t.UTC(),
	}, nil
}

func canonicalRequest(r *http.Request, sig signature, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	// Services other than S3 sign the path escaped once more.
	b.WriteString(escape(r.URL.EscapedPath(), false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, sig.presigned))
	b.WriteByte('\n')
	for _, h := range sig.signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(sig.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	values := r.Header.Values(name)
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

func canonicalQuery(raw string, presigned bool) string {
	type pair struct{ k, v string }
	var pairs []pair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{escape(k, true), escape(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// escape percent-encodes everything but RFC 3986's unreserved characters
// (and '/' unless encodeSlash), as SigV4 requires.
func escape(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// signingKey derives (and caches) the day's key for one credential, region
// and service: four HMACs saved on every request of a busy client.
func (k *Keyring) signingKey(c Credential, date, region, service string) []byte {
	id := c.AccessKeyID + "/" + date + "/" + region + "/" + service
	if v, ok := k.signingKeys.Load(id); ok {
		return v.([]byte)
	}
	key := hmacSHA256([]byte("AWS4"+c.SecretAccessKey), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	k.cacheMu.Lock()
	// Keys of past days are useless; bound the cache by starting afresh.
	if k.cached > 10000 {
		k.signingKeys.Clear()
		k.cached = 0
	}
	k.cached++
	k.cacheMu.Unlock()
	k.signingKeys.Store(id, key)
	return key
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
