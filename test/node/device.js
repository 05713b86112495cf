'use strict';
// device.js: a stock Azure IoT Node device (azure-iot-device + azure-iot-device-mqtt)
// driven by the Go interop test in test/interop.
//
// Environment:
//   DEVICE_CONNECTION_STRING  HostName=localhost:<port>;DeviceId=...;SharedAccessKey=...
//   DEVICE_CA_FILE            PEM file of the hub's CA (passed with client.setOptions({ca}))
//   TOKEN_VALID_SECONDS       optional: SAS token lifetime; the SDK renews it 2/3 of the way
//                             through with DISCONNECT + CONNECT and re-subscribes nothing
//
// Output: one JSON object per line on stdout, {"event": ..., ...}:
//   connected   first open() succeeded
//   twin        {"desired": {...}, "reported": {...}} after a GET (start, and on "get")
//   ready       the desired listener is subscribed (a GET was answered after the SUBSCRIBE)
//   desired     {"patch": {...,"$version": n}} for every desired notification
//   reported    {"patch": {...}} once a reported patch was acknowledged
//   connect     the transport (re)connected
//   disconnect  the client gave up on the connection
//   error       {"where": ..., "message": ...}
// Input: one JSON command per line on stdin:
//   {"cmd":"get"}                      GET the twin again, then print "twin"
//   {"cmd":"report","patch":{...}}     patch reported properties, then print "reported"
//   {"cmd":"exit"}                     close the client and exit 0
// Every desired notification that carries an "echo" member is answered by reporting
// {"echo": <value>}, so the Go side can see a full desired -> device -> reported trip.

const readline = require('readline');
const fs = require('fs');
const { Client } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

function out(event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event }, fields || {})) + '\n');
}

function fail(where, err) {
  out('error', { where, message: String(err && err.message ? err.message : err) });
}

const connStr = process.env.DEVICE_CONNECTION_STRING;
const caFile = process.env.DEVICE_CA_FILE;
if (!connStr || !caFile) {
  fail('env', 'DEVICE_CONNECTION_STRING and DEVICE_CA_FILE must be set');
  process.exit(2);
}

const client = Client.fromConnectionString(connStr, Mqtt);
const options = { ca: fs.readFileSync(caFile, 'utf8') };
if (process.env.TOKEN_VALID_SECONDS) {
  const valid = Number(process.env.TOKEN_VALID_SECONDS);
  options.tokenRenewal = {
    tokenValidTimeInSeconds: valid,
    tokenRenewalMarginInSeconds: Math.floor(valid / 3),
  };
}

client.on('connect', () => out('connect'));
client.on('disconnect', (r) => out('disconnect', { reason: String(r && r.reason ? r.reason : '') }));
client.on('error', (err) => fail('client', err));

function report(twin, patch) {
  twin.properties.reported.update(patch, (err) => {
    if (err) {
      fail('report', err);
      return;
    }
    out('reported', { patch });
  });
}

function snapshot(twin) {
  return {
    desired: JSON.parse(JSON.stringify(twin.properties.desired)),
    reported: JSON.parse(JSON.stringify(twin.properties.reported)),
  };
}

function listen(twin) {
  twin.on('error', (err) => fail('twin', err));
  twin.on('properties.desired', (patch) => {
    // The SDK also fires this event with the whole cached desired section (the very same
    // object) when a listener is added and after every GET; only notifications, which
    // carry the patch as received, count as "desired" events.
    if (patch === twin.properties.desired) {
      return;
    }
    out('desired', { patch });
    if (patch && Object.prototype.hasOwnProperty.call(patch, 'echo')) {
      report(twin, { echo: patch.echo });
    }
  });
}

function commands(twin) {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (err) {
      fail('stdin', err);
      return;
    }
    switch (cmd.cmd) {
      case 'get':
        twin.get((err) => (err ? fail('get', err) : out('twin', snapshot(twin))));
        break;
      case 'report':
        report(twin, cmd.patch);
        break;
      case 'exit':
        client.close(() => process.exit(0));
        break;
      default:
        fail('stdin', 'unknown command ' + JSON.stringify(cmd.cmd));
    }
  });
  rl.on('close', () => client.close(() => process.exit(0)));
}

async function main() {
  client.setOptions(options);
  await client.open();
  out('connected');
  const twin = await client.getTwin();
  out('twin', snapshot(twin));
  // Adding the listener SUBSCRIBEs to the desired topic; the GET that follows goes out on
  // the same connection after it, so once it is answered the subscription is in place.
  listen(twin);
  twin.get((err) => {
    if (err) {
      fail('get', err);
      return;
    }
    out('ready', snapshot(twin));
    commands(twin);
  });
}

main().catch((err) => {
  fail('main', err);
  process.exit(1);
});
