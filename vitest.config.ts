import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    allowOnly: false,
    disableConsoleIntercept: true,
    // No wall-clock bounds: a test passes or fails on what it computes, not on how busy the machine is (a loaded
    // 2-core machine ran past a 600 s timeout). Tests that wait on a child process include its exit in the wait.
    testTimeout: 0,
    hookTimeout: 0,
    pool: 'forks',
    reporters: ['default'],
  },
})
