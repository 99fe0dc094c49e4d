package server

import (
	"encoding/json"

	"github.com/berth-project/berth/api/ecs"
)

// identityDocument is the part of an EC2 instance identity document (the
// JSON that the instance metadata service serves at
// /latest/dynamic/instance-identity/document) that registration uses.
//
// Berth does not verify instanceIdentityDocumentSignature: it has no AWS
// public certificate to check it against when it runs outside AWS, and the
// caller is already authenticated by its request signature. A registration
// therefore trusts the document as its caller trusts it.
type identityDocument struct {
	InstanceID       string `json:"instanceId"`
	InstanceType     string `json:"instanceType"`
	AvailabilityZone string `json:"availabilityZone"`
	ImageID          string `json:"imageId"`
	Region           string `json:"region"`
	AccountID        string `json:"accountId"`
	Architecture     string `json:"architecture"`
	PrivateIP        string `json:"privateIp"`
}

// parseIdentityDocument reads an identity document; an absent or empty one
// (ECS Anywhere, or a caller outside EC2) gives a zero document. Anything
// that is not a JSON object is refused with the ClientException that ECS
// gives for a document it cannot accept.
func parseIdentityDocument(doc *string) (identityDocument, error) {
	var d identityDocument
	if doc == nil || *doc == "" {
		return d, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*doc), &obj); err != nil || obj == nil {
		return d, errInvalidIdentityDocument()
	}
	if err := json.Unmarshal([]byte(*doc), &d); err != nil {
		return d, errInvalidIdentityDocument()
	}
	return d, nil
}

func errInvalidIdentityDocument() error {
	return ecs.NewClientException("The identity document and identity document signature were not valid.")
}

// The attributes ECS derives from the document.
const (
	attrAMIID            = "ecs.ami-id"
	attrAvailabilityZone = "ecs.availability-zone"
	attrInstanceType     = "ecs.instance-type"
)

func isIdentityDocAttribute(name string) bool {
	return name == attrAMIID || name == attrAvailabilityZone || name == attrInstanceType
}

// attributes are the ones ECS derives from the document and sets on the
// container instance, whatever the agent sent for them.
func (d identityDocument) attributes() []ecs.Attribute {
	var out []ecs.Attribute
	add := func(name, value string) {
		if value != "" {
			out = append(out, ecs.Attribute{Name: ecs.Ptr(name), Value: ecs.Ptr(value)})
		}
	}
	add(attrAMIID, d.ImageID)
	add(attrAvailabilityZone, d.AvailabilityZone)
	add(attrInstanceType, d.InstanceType)
	return out
}
