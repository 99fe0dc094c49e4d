package berthtest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/berth-project/berth/api/auth"
	"github.com/berth-project/berth/internal/daemon"
)

// SSMClient is an SSM (Parameter Store) client signed with the development
// key pair, on the same endpoint as the ECS client.
func (s *Server) SSMClient() *ssm.Client {
	return s.SSMClientFor(auth.DefaultAccessKeyID, auth.DefaultSecretAccessKey, Region)
}

// SSMClientFor is an SSM client with the given key pair and region,
// retrying only as ClientFor's does.
func (s *Server) SSMClientFor(keyID, secret, region string) *ssm.Client {
	return ssm.New(ssm.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		Retryer:      ClosedConnRetryer(),
	})
}

// WithSealKeysFile gives the server the keyring file that seals values at
// rest (berth server's --seal-keys-file).
func WithSealKeysFile(path string) Option {
	return func(c *daemon.Config) { c.SealKeysFile = path }
}
