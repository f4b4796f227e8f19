// Run graphql-http's audit suite against a running server; print the results as JSON.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
console.log(JSON.stringify(results.map((r) => ({
  id: r.id, name: r.name, status: r.status, reason: r.reason ?? null,
}))));
