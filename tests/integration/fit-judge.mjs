// SPDX-License-Identifier: MIT
// Garmin's own FIT decoder (@garmin/fitsdk) as the judge of a FIT file:
// prints what it read as JSON for the Python tests to compare.
//   node fit-judge.mjs SDK_DIR FILE
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

const [sdkDir, file] = process.argv.slice(2);
const sdk = await import(pathToFileURL(path.join(sdkDir, 'node_modules', '@garmin', 'fitsdk', 'src', 'index.js')));
const { Decoder, Stream } = sdk.default || sdk;

const bytes = fs.readFileSync(file);
const decoder = new Decoder(Stream.fromByteArray(bytes));
const out = { isFIT: Decoder.isFIT(Stream.fromByteArray(bytes)), integrity: decoder.checkIntegrity() };
const { messages, errors } = decoder.read({ convertDateTimesToDates: false, expandComponents: false,
	mergeHeartRates: false, applyScaleAndOffset: true, convertTypesToStrings: true });
out.errors = errors.map((e) => String(e && e.message ? e.message : e));
const m = messages;
out.fileId = (m.fileIdMesgs || []).map((x) => ({ type: x.type, manufacturer: x.manufacturer, timeCreated: x.timeCreated }));
out.records = (m.recordMesgs || []).map((r) => [r.timestamp, r.heartRate === undefined ? null : r.heartRate]);
out.hrv = (m.hrvMesgs || []).map((h) => h.time);
out.events = (m.eventMesgs || []).map((e) => [e.timestamp, e.event, e.eventType]);
const pick = (s) => ({ timestamp: s.timestamp, startTime: s.startTime, sport: s.sport, subSport: s.subSport,
	totalElapsedTime: s.totalElapsedTime, totalTimerTime: s.totalTimerTime, avgHeartRate: s.avgHeartRate,
	maxHeartRate: s.maxHeartRate, minHeartRate: s.minHeartRate, timeInHrZone: s.timeInHrZone,
	numLaps: s.numLaps, firstLapIndex: s.firstLapIndex, totalCalories: s.totalCalories });
out.sessions = (m.sessionMesgs || []).map(pick);
out.laps = (m.lapMesgs || []).map(pick);
out.timeInZone = (m.timeInZoneMesgs || []).map((t) => ({ referenceMesg: t.referenceMesg, referenceIndex: t.referenceIndex,
	timeInHrZone: t.timeInHrZone, hrZoneHighBoundary: t.hrZoneHighBoundary, maxHeartRate: t.maxHeartRate }));
out.activity = (m.activityMesgs || []).map((a) => ({ numSessions: a.numSessions, totalTimerTime: a.totalTimerTime, timestamp: a.timestamp }));
out.deviceInfo = (m.deviceInfoMesgs || []).length;
console.log(JSON.stringify(out));
