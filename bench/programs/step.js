// The JavaScript benchmarks' program (bench/javascript.ts): a loop to step through, a function
// never called (where the unhit breakpoint goes), and call-heavy work to time.
function never() {
  return 0; // @never
}

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

const rounds = Number(process.argv[2] ?? 0);
let total = 0;
const t0 = performance.now();
for (let i = 0; i < rounds; i++) total += fib(22);
if (rounds > 0) console.log("work", performance.now() - t0);
let x = 0;
while (x >= 0) {
  x = x + 1; // @step
  if (rounds > 0) break;
}
console.log(total, x > 0 ? 1 : never());
