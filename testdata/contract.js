// The engine contract's program for JavaScript (tests/conformance), as contract.py for Python.
function visit(items, n) {
  const label = `visit ${n}`;
  return items.length + n; // @contract_stop
}

let total = 0;
for (let n = 0; n < 2; n++) {
  total += visit([...Array(250).keys()], n);
}
