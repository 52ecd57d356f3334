/** The policy set the SDK end-to-end tests share: a block, a redaction and a tight limit by tag. */
export function sdkPolicies(limitRequests: number): string {
  return `version: 1
rules:
  - id: no-ssn
    when: { detect: [ssn] }
    action: block
    message: "SSNs may not be sent to a model"
  - id: mask-email
    when: { detect: [email] }
    action: redact
  - id: tight-limit
    scope: { tags: [limited] }
    limit: { requests: ${limitRequests}, per: 1h }
`;
}
