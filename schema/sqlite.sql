-- SQLite copy of the flughafendb tables (see schema/mysql.sql, the original): same table and
-- column names, keys and indexes; POINT becomes a BLOB, MEDIUMINT/SMALLINT become INTEGER.
-- Statements are separated by a line holding only ";".

CREATE TABLE IF NOT EXISTS "airport" (
  "airport_id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  "iata" CHAR(3) NULL,
  "icao" CHAR(4) NOT NULL UNIQUE,
  "name" VARCHAR(50) NOT NULL
)
;
CREATE INDEX IF NOT EXISTS "name_idx" ON "airport" ("name")
;
CREATE INDEX IF NOT EXISTS "iata_idx" ON "airport" ("iata")
;
CREATE TABLE IF NOT EXISTS "airport_geo" (
  "airport_id" SMALLINT NOT NULL,
  "name" VARCHAR(50) NOT NULL,
  "city" VARCHAR(50) NULL,
  "country" VARCHAR(50) NULL,
  "latitude" DECIMAL(11,8) NOT NULL,
  "longitude" DECIMAL(11,8) NOT NULL,
  "geolocation" BLOB NULL
)
;
CREATE INDEX IF NOT EXISTS "flughafen_idx" ON "airport_geo" ("airport_id")
;
CREATE TABLE IF NOT EXISTS "airline" (
  "airline_id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  "iata" CHAR(2) NOT NULL UNIQUE,
  "airlinename" VARCHAR(30) NULL,
  "base_airport" SMALLINT NOT NULL REFERENCES "airport" ("airport_id")
)
;
CREATE INDEX IF NOT EXISTS "base_airport_idx" ON "airline" ("base_airport")
;
CREATE TABLE IF NOT EXISTS "airplane_type" (
  "type_id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  "identifier" VARCHAR(50) NULL,
  "description" TEXT NULL
)
;
CREATE TABLE IF NOT EXISTS "airplane" (
  "airplane_id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  "capacity" INTEGER NOT NULL CHECK ("capacity" >= 0),
  "type_id" INTEGER NOT NULL REFERENCES "airplane_type" ("type_id"),
  "airline_id" INTEGER NOT NULL
)
;
CREATE INDEX IF NOT EXISTS "type_id" ON "airplane" ("type_id")
;
CREATE TABLE IF NOT EXISTS "flight" (
  "flight_id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  "flightno" CHAR(8) NOT NULL,
  "from" SMALLINT NOT NULL REFERENCES "airport" ("airport_id"),
  "to" SMALLINT NOT NULL REFERENCES "airport" ("airport_id"),
  "departure" DATETIME NOT NULL,
  "arrival" DATETIME NOT NULL,
  "airline_id" SMALLINT NOT NULL REFERENCES "airline" ("airline_id"),
  "airplane_id" INTEGER NOT NULL REFERENCES "airplane" ("airplane_id")
)
;
CREATE INDEX IF NOT EXISTS "from_idx" ON "flight" ("from")
;
CREATE INDEX IF NOT EXISTS "to_idx" ON "flight" ("to")
;
CREATE INDEX IF NOT EXISTS "departure_idx" ON "flight" ("departure")
;
CREATE INDEX IF NOT EXISTS "arrivals_idx" ON "flight" ("arrival")
;
CREATE INDEX IF NOT EXISTS "airline_idx" ON "flight" ("airline_id")
;
CREATE INDEX IF NOT EXISTS "airplane_idx" ON "flight" ("airplane_id")
;
CREATE INDEX IF NOT EXISTS "flightno" ON "flight" ("flightno")
;
CREATE TABLE IF NOT EXISTS "passenger" (
  "passenger_id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  "passportno" CHAR(9) NOT NULL UNIQUE,
  "firstname" VARCHAR(100) NOT NULL,
  "lastname" VARCHAR(100) NOT NULL
)
;
CREATE TABLE IF NOT EXISTS "passengerdetails" (
  "passenger_id" INTEGER NOT NULL PRIMARY KEY REFERENCES "passenger" ("passenger_id") ON DELETE CASCADE,
  "birthdate" DATE NOT NULL,
  "sex" CHAR(1) NULL,
  "street" VARCHAR(100) NOT NULL,
  "city" VARCHAR(100) NOT NULL,
  "zip" SMALLINT NOT NULL,
  "country" VARCHAR(100) NOT NULL,
  "emailaddress" VARCHAR(120) NULL,
  "telephoneno" VARCHAR(30) NULL
)
;
CREATE TABLE IF NOT EXISTS "booking" (
  "booking_id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  "flight_id" INTEGER NOT NULL REFERENCES "flight" ("flight_id"),
  "seat" CHAR(4) NULL,
  "passenger_id" INTEGER NOT NULL REFERENCES "passenger" ("passenger_id"),
  "price" DECIMAL(10,2) NOT NULL,
  UNIQUE ("flight_id", "seat")
)
;
CREATE INDEX IF NOT EXISTS "passenger_idx" ON "booking" ("passenger_id")
;
