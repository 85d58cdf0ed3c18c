// DuckDB peer for bench/run.sh --peers: per (api_key_id, hour) requests and tokens from a JSON-lines
// log, the columns declared (read_ndjson projection, DuckDB's fastest way in), then the keys whose
// busiest hour is over 5x their median hour. What an analyst would otherwise run.
//   node group_by.js FILE THREADS
const { DuckDBInstance } = require('@duckdb/node-api');

async function main() {
  const [file, threads] = process.argv.slice(2);
  const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const con = await db.connect();
  const f = file.replace(/'/g, "''");
  await con.run(`CREATE TEMP TABLE h AS
    SELECT api_key_id AS k, substr("timestamp", 1, 13) AS hr, count(*) AS n,
           sum(coalesce(response.usage.prompt_tokens, 0)
             + coalesce(response.usage.completion_tokens, 0)) AS tok
    FROM read_ndjson('${f}', columns = {timestamp: 'VARCHAR', api_key_id: 'VARCHAR',
         response: 'STRUCT(usage STRUCT(prompt_tokens BIGINT, completion_tokens BIGINT))'})
    GROUP BY ALL`);
  const flagged = (await con.runAndReadAll(`
    SELECT k FROM h GROUP BY k HAVING max(n) > 5 * median(n)`)).getRows();
  process.stderr.write(`duckdb threads=${threads} flagged=${flagged.length}\n`);
}

main().catch((e) => { console.error(e); process.exit(1); });
