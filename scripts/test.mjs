// `npm test`: the whole vitest suite, then one closing line `N passed, N failed[, N skipped]` that CI reads.
// Extra arguments go to vitest (e.g. `npm test -- test/ligo`).
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ligo-vitest-')), 'report.json')
const vitest = path.join('node_modules', 'vitest', 'vitest.mjs')
const r = spawnSync(process.execPath, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile=${report}`, ...process.argv.slice(2)], {stdio: 'inherit'})
let passed = 0
let failed = 0
let skipped = 0
try {
  const j = JSON.parse(fs.readFileSync(report, 'utf8'))
  passed = j.numPassedTests
  // Failed tests, plus files that failed without a failing test (e.g. an import error).
  const brokenFiles = (j.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'))
  failed = j.numFailedTests + brokenFiles.length
  skipped = j.numPendingTests + (j.numTodoTests ?? 0)
} catch {
  failed = Math.max(1, failed) // the runner died before writing its report
}
if (r.status !== 0 && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(r.status ?? 1)
